package pqio

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(string), error](&globFn{})
	register.Emitter1[string]()
	register.Emitter1[rowGroupRef]()
	register.Iter1[string]()
	beam.RegisterType(reflect.TypeFor[rowGroupRef]())
}

var (
	registeredMu sync.Mutex
	registered   = map[reflect.Type]bool{}
)

// Register registers with Beam every DoFn, emitter and type that Write and
// Read need for the row type T. Call it from an init function of each
// package that uses Write or Read with T (calling it again for the same T is
// a no-op); registrations made after beam.Init never reach Dataflow workers,
// and Beam panics on them. Register panics if T is not a struct parquet-go can
// map or if its SchemaVersion is empty.
//
//	func init() { pqio.Register[schemas.Example]() }
func Register[T Schema]() {
	t := reflect.TypeFor[T]()
	registeredMu.Lock()
	defer registeredMu.Unlock()
	if registered[t] {
		return
	}
	_ = schemaOf[T]() // panics on an unmappable T
	if versionOf[T]() == "" {
		panic(fmt.Sprintf("pqio.Register[%v]: SchemaVersion() is empty", t))
	}
	beam.RegisterType(t)
	register.DoFn3x1[context.Context, T, func(string), error](&writeShardFn[T]{})
	register.DoFn4x1[context.Context, []byte, func(*string) bool, func(string), error](&finalizeFn[T]{})
	register.DoFn3x1[context.Context, string, func(rowGroupRef), error](&listRowGroupsFn[T]{})
	register.DoFn3x1[context.Context, rowGroupRef, func(T), error](&readRowGroupFn[T]{})
	register.Emitter1[T]()
	registered[t] = true
}

// mustBeRegistered panics at pipeline construction if Register[T] was not
// called, which would otherwise only fail on a remote worker.
func mustBeRegistered[T Schema](op string) {
	t := reflect.TypeFor[T]()
	registeredMu.Lock()
	ok := registered[t]
	registeredMu.Unlock()
	if !ok {
		panic(fmt.Sprintf("pqio.%s[%v]: row type not registered: call pqio.Register[%v]() in an init function", op, t, t))
	}
}
