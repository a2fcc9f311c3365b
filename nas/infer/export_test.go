package infer

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
)

// foldedModel returns a recalibrated, folded model of arch vec (nil: the
// reference space's largest subnet) of a random supernet.
func foldedModel(t testing.TB, sp *space.Space, a space.Arch) *Model {
	t.Helper()
	sn := randomSupernet(sp, 17)
	st, err := Recalibrate(sn, a, randImages(sp, 24, 9), RecalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Fold(sn, a, st)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSaveLoadRoundTrip writes a model as rows + metadata, loads it back and
// checks the logits are bit-identical and the metadata survives.
func TestSaveLoadRoundTrip(t *testing.T) {
	ref := reference(t)
	tn := tiny(t, space.ReLU)
	cases := []struct {
		name string
		sp   *space.Space
		arch space.Arch
	}{
		{"fmnist max", ref, ref.Max()},
		{"fmnist min", ref, ref.Min()},
		{"tiny pool+conv", tn, mustArch(t, tn, tinyArchs[1].vec)},
		{"tiny pool-only", tn, mustArch(t, tn, tinyArchs[3].vec)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := foldedModel(t, c.sp, c.arch)
			m.Mean, m.Std = []float64{0.286}, []float64{0.353}
			if c.sp.Input.Channels == 3 {
				m.Mean, m.Std = []float64{0.4, 0.5, 0.6}, []float64{0.2, 0.25, 0.3}
			}
			rows, meta := m.Tensors(), m.MetaJSON()
			l, err := LoadModel(rows, meta)
			if err != nil {
				t.Fatal(err)
			}
			const B = 11
			x := randImages(c.sp, B, 6)
			want, got := make([]float32, B*c.sp.Classes), make([]float32, B*c.sp.Classes)
			m.Forward(want, x, B)
			l.Forward(got, x, B)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("logit %d: loaded %v, original %v", i, got[i], want[i])
				}
			}
			if !l.Arch.Equal(m.Arch) || !l.Space.Equal(m.Space) || !slices.Equal(l.Mean, m.Mean) || !slices.Equal(l.Std, m.Std) {
				t.Fatalf("metadata differs after the round trip")
			}
			if !slices.Equal(l.MetaJSON(), meta) {
				t.Fatalf("metadata JSON differs:\n%s\n%s", l.MetaJSON(), meta)
			}
			var md ModelMeta
			if err := json.Unmarshal(meta, &md); err != nil {
				t.Fatal(err)
			}
			if md.FLOPs != c.sp.FLOPs(c.arch) || md.Params != c.sp.Params(c.arch) || md.BNEps != BNEps || !md.BNFolded {
				t.Fatalf("metadata %+v", md)
			}
			// Every row is a weight with product(shape) values, and they add
			// up to foldedParams.
			total := 0
			for _, r := range rows {
				total += len(r.Values)
			}
			if int64(total) != foldedParams(m.Plan()) {
				t.Fatalf("%d values in the rows, foldedParams %d", total, foldedParams(m.Plan()))
			}
			for _, r := range rows {
				n := 1
				for _, d := range r.Shape {
					n *= int(d)
				}
				if r.Role != schemas.RoleWeight || len(r.Values) != n {
					t.Fatalf("row %s: role %q, %d values for shape %v", r.Name, r.Role, len(r.Values), r.Shape)
				}
			}
		})
	}
}

// TestLoadModelErrors feeds broken rows and metadata to LoadModel: each must
// fail with the documented sentinel and a nil model.
func TestLoadModelErrors(t *testing.T) {
	tn := tiny(t, space.HSwish)
	m := foldedModel(t, tn, mustArch(t, tn, tinyArchs[1].vec))
	rows, meta := m.Tensors(), m.MetaJSON()
	withMeta := func(f func(md map[string]any)) []byte {
		var md map[string]any
		if err := json.Unmarshal(meta, &md); err != nil {
			t.Fatal(err)
		}
		f(md)
		b, err := json.Marshal(md)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withRows := func(f func(rs []schemas.Tensor) []schemas.Tensor) []schemas.Tensor {
		rs := make([]schemas.Tensor, len(rows))
		for i, r := range rows {
			rs[i] = r
			rs[i].Shape = slices.Clone(r.Shape)
			rs[i].Values = slices.Clone(r.Values)
		}
		return f(rs)
	}
	find := func(rs []schemas.Tensor, name string) int {
		for i, r := range rs {
			if r.Name == name {
				return i
			}
		}
		t.Fatalf("no row %s", name)
		return -1
	}
	cases := []struct {
		name string
		rows []schemas.Tensor
		meta []byte
		err  error
		msg  string
	}{
		{"not JSON", rows, []byte("{"), ErrBadMeta, "metadata"},
		{"unknown field", rows, withMeta(func(md map[string]any) { md["colour"] = "red" }), ErrBadMeta, "colour"},
		{"wrong format", rows, withMeta(func(md map[string]any) { md["format"] = "attentivenas.Model/v0" }), ErrBadMeta, "format"},
		{"no space", rows, withMeta(func(md map[string]any) { delete(md, "space") }), ErrBadMeta, "space"},
		{"bad space", rows, withMeta(func(md map[string]any) { md["space"] = map[string]any{"name": "x"} }), ErrBadMeta, "space"},
		{"fingerprint", rows, withMeta(func(md map[string]any) { md["space_fingerprint"] = "0000" }), ErrBadMeta, "space_fingerprint"},
		{"arch not in space", rows, withMeta(func(md map[string]any) { md["arch"] = []int{13, 4, 8, 12, 6, 1, 2, 7, 3, 2, 1} }), ErrBadMeta, "kernel.a"},
		{"arch too short", rows, withMeta(func(md map[string]any) { md["arch"] = []int{13, 4} }), ErrBadMeta, "arch"},
		{"input size", rows, withMeta(func(md map[string]any) { md["input_size"] = 28 }), ErrBadMeta, "input_size"},
		{"classes", rows, withMeta(func(md map[string]any) { md["classes"] = 10 }), ErrBadMeta, "classes"},
		{"not folded", rows, withMeta(func(md map[string]any) { md["bn_folded"] = false }), ErrBadMeta, "bn_folded"},
		{"mean length", rows, withMeta(func(md map[string]any) { md["mean"] = []float64{0.5} }), ErrBadMeta, "mean"},
		{"zero std", rows, withMeta(func(md map[string]any) { md["std"] = []float64{1, 0, 1} }), ErrBadMeta, "std"},
		{"missing tensor", withRows(func(rs []schemas.Tensor) []schemas.Tensor {
			return slices.Delete(rs, find(rs, "blocks.1.shortcut.w"), find(rs, "blocks.1.shortcut.w")+1)
		}), meta, ErrMissingTensor, `"blocks.1.shortcut.w"`},
		{"unknown tensor", withRows(func(rs []schemas.Tensor) []schemas.Tensor {
			return append(rs, schemas.Tensor{Name: "blocks.9.dw.w", Role: schemas.RoleWeight, Shape: []int32{1}, Values: []float32{0}})
		}), meta, ErrUnknownTensor, `"blocks.9.dw.w"`},
		{"duplicate tensor", withRows(func(rs []schemas.Tensor) []schemas.Tensor {
			return append(rs, rs[find(rs, "stem.b")])
		}), meta, ErrDuplicateTensor, `"stem.b"`},
		{"momentum role", withRows(func(rs []schemas.Tensor) []schemas.Tensor {
			rs[find(rs, "stem.w")].Role = schemas.RoleMomentum
			return rs
		}), meta, ErrUnknownTensor, "role"},
		{"wrong shape", withRows(func(rs []schemas.Tensor) []schemas.Tensor {
			rs[find(rs, "blocks.0.dw.w")].Shape = []int32{5, 5, 8} // a 3x3 kernel is expected
			return rs
		}), meta, ErrTensorShape, "expected [3 3 8]"},
		{"no rows", nil, meta, ErrMissingTensor, `"stem.w"`},
		{"short values", withRows(func(rs []schemas.Tensor) []schemas.Tensor {
			i := find(rs, "classifier.b")
			rs[i].Values = rs[i].Values[:2]
			return rs
		}), meta, ErrTensorShape, "2 values"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := LoadModel(c.rows, c.meta)
			var fe *FormatError
			if got != nil || !errors.Is(err, c.err) || !errors.As(err, &fe) || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "infer: ") {
				t.Fatalf("got (%v, %v), want a nil model and a *FormatError wrapping %v mentioning %q", got, err, c.err, c.msg)
			}
		})
	}
}

// FuzzLoadModel feeds arbitrary metadata to LoadModel with valid rows: it
// must not panic, and whatever it accepts must round-trip.
func FuzzLoadModel(f *testing.F) {
	tn := tiny(f, space.HSwish)
	m := foldedModel(f, tn, mustArch(f, tn, tinyArchs[4].vec))
	rows := m.Tensors()
	f.Add(m.MetaJSON())
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"attentivenas.Model/v1","arch":[1]}`))
	f.Fuzz(func(t *testing.T, meta []byte) {
		l, err := LoadModel(rows, meta)
		if err != nil {
			if l != nil {
				t.Fatal("model and error both returned")
			}
			return
		}
		l2, err := LoadModel(l.Tensors(), l.MetaJSON())
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if !l2.Arch.Equal(l.Arch) {
			t.Fatal("round trip changed the arch")
		}
	})
}
