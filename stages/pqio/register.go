package pqio

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/attentivenas/attentivenas/stages/beamreg"
)

func init() {
	beam.RegisterType(reflect.TypeFor[globFn]())
	beamreg.Method3x1((*globFn).ProcessElement)
	register.Emitter1[string]()
	register.Emitter1[rowGroupRef]()
	register.Iter1[string]()
	beam.RegisterType(reflect.TypeFor[rowGroupRef]())
	beam.RegisterType(reflect.TypeFor[Staged]())
	beam.RegisterType(reflect.TypeFor[PartSpec]())
	register.Emitter1[Staged]()
	register.Iter1[Staged]()
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
	beam.RegisterType(reflect.TypeFor[writeShardFn[T]]())
	beamreg.Method1x1((*writeShardFn[T]).Setup)
	beamreg.Method2x1((*writeShardFn[T]).StartBundle)
	beamreg.Method3x1((*writeShardFn[T]).ProcessElement)
	beamreg.Method2x1((*writeShardFn[T]).FinishBundle)
	beamreg.Method1x1((*writeShardFn[T]).Teardown)
	beam.RegisterType(reflect.TypeFor[commitFn[T]]())
	beamreg.Method5x1((*commitFn[T]).ProcessElement)
	beam.RegisterType(reflect.TypeFor[listRowGroupsFn[T]]())
	beamreg.Method3x1((*listRowGroupsFn[T]).ProcessElement)
	beamreg.Method0x1((*listRowGroupsFn[T]).Teardown)
	beam.RegisterType(reflect.TypeFor[readRowGroupFn[T]]())
	beamreg.Method2x1((*readRowGroupFn[T]).StartBundle)
	beamreg.Method3x1((*readRowGroupFn[T]).ProcessElement)
	beamreg.Method2x1((*readRowGroupFn[T]).FinishBundle)
	beamreg.Method0x1((*readRowGroupFn[T]).Teardown)
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
