package beamreg_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/vet"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/attentivenas/attentivenas/stages/beamreg"
)

// scaleFn has every lifecycle method, each registered through beamreg.
type scaleFn struct {
	Factor int
	setup  bool
}

func (f *scaleFn) Setup(context.Context) error { f.setup = true; return nil }
func (f *scaleFn) StartBundle(context.Context, func(*int) bool, func(int)) error {
	return nil
}
func (f *scaleFn) ProcessElement(_ context.Context, x int, offsets func(*int) bool, emit func(int)) error {
	if !f.setup {
		panic("ProcessElement before Setup")
	}
	sum, o := 0, 0
	for offsets(&o) {
		sum += o
	}
	emit(x*f.Factor + sum)
	return nil
}
func (f *scaleFn) FinishBundle(context.Context, func(*int) bool, func(int)) error { return nil }
func (f *scaleFn) Teardown() error                                                { return nil }

// halfFn registers its type but not its ProcessElement signature.
type halfFn struct{}

func (f *halfFn) ProcessElement(x int, y string, emit func(int)) { emit(x + len(y)) }

func init() {
	beam.RegisterType(reflect.TypeFor[scaleFn]())
	beamreg.Method1x1((*scaleFn).Setup)
	beamreg.Method3x1((*scaleFn).StartBundle)
	beamreg.Method4x1((*scaleFn).ProcessElement)
	beamreg.Method3x1((*scaleFn).FinishBundle)
	beamreg.Method0x1((*scaleFn).Teardown)
	beam.RegisterType(reflect.TypeFor[halfFn]())
	register.Emitter1[int]()
	register.Iter1[int]()
	register.Iter1[string]()
}

func TestMain(m *testing.M) {
	beamlog.LogLevel = "warn"
	ptest.Main(m)
}

// TestRegisteredDoFnRuns: a DoFn registered through beamreg runs on the
// runner with every method called through the registered callers.
func TestRegisteredDoFnRuns(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	out := beam.ParDo(s, &scaleFn{Factor: 10}, beam.Create(s, 1, 2, 3), beam.SideInput{Input: beam.Create(s, 1, 2)})
	passert.Equals(s, out, 13, 23, 33)
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}

// TestVet: the SDK's vet runner finds no reflection in a graph of
// beamreg-registered DoFns, and does flag a signature left out.
func TestVet(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo(s, &scaleFn{Factor: 2}, beam.Create(s, 1), beam.SideInput{Input: beam.Create(s, 1)})
	e, err := vet.Evaluate(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Performant() {
		_, err := vet.Execute(context.Background(), p)
		t.Fatalf("registered DoFn reported as using reflection: %v", err)
	}

	p, s = beam.NewPipelineWithRoot()
	beam.ParDo(s, &halfFn{}, beam.Create(s, 1), beam.SideInput{Input: beam.Create(s, "ab")})
	if e, err := vet.Evaluate(context.Background(), p); err != nil || e.Performant() {
		t.Errorf("unregistered ProcessElement signature not flagged (err %v)", err)
	}
}

// TestCallers: the callers pass arguments through in order.
func TestCallers(t *testing.T) {
	f := &scaleFn{Factor: 3, setup: true}
	fn := reflectx.MakeFunc(f.ProcessElement)
	var got []int
	offsets := func(p *int) bool { return false }
	ret := fn.Call([]any{context.Background(), 5, offsets, func(x int) { got = append(got, x) }})
	if len(ret) != 1 || ret[0] != nil || len(got) != 1 || got[0] != 15 {
		t.Fatalf("Call returned %v, emitted %v", ret, got)
	}
	if _, ok := fn.(reflectx.Func4x1); !ok {
		t.Errorf("caller %T does not implement reflectx.Func4x1", fn)
	}
}
