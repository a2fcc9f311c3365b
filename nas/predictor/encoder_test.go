package predictor

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/attentivenas/attentivenas/nas/space"
)

func TestEncoderRoundTrip(t *testing.T) {
	sp := loadReference(t)
	for _, opt := range []EncoderOptions{{}, {FLOPs: true}, DefaultEncoderOptions()} {
		enc, err := NewEncoder(sp, opt)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		archs := []space.Arch{sp.Min(), sp.Max()}
		for range 200 {
			archs = append(archs, sp.Random(rng))
		}
		for _, a := range archs {
			f, err := enc.Encode(a)
			if err != nil {
				t.Fatal(err)
			}
			back, err := enc.Decode(f)
			if err != nil {
				t.Fatalf("%+v: Decode(%v): %v", opt, f, err)
			}
			if !back.Equal(a) {
				t.Fatalf("%+v: Decode(Encode(%v)) = %v", opt, a, back)
			}
			// The gene prefix is the Arch vector.
			for g, v := range a.Vector() {
				if f[g] != float64(v) {
					t.Fatalf("feature %d = %v, Arch vector has %d", g, f[g], v)
				}
			}
			// EncodeVector agrees, and so do the costs.
			fv, err := enc.EncodeVector(a.Vector())
			if err != nil || !slices.Equal(fv, f) {
				t.Fatalf("EncodeVector = %v, %v; Encode = %v", fv, err, f)
			}
			fc := make([]float64, enc.NumFeatures())
			if err := enc.EncodeWithCosts(fc, a, sp.FLOPs(a), sp.Params(a)); err != nil || !slices.Equal(fc, f) {
				t.Fatalf("EncodeWithCosts = %v, %v; Encode = %v", fc, err, f)
			}
		}
	}
}

func TestEncoderLayout(t *testing.T) {
	sp := loadReference(t)
	enc, err := NewEncoder(sp, DefaultEncoderOptions())
	if err != nil {
		t.Fatal(err)
	}
	names := enc.Names()
	if len(names) != 21 || enc.NumGenes() != 19 || enc.NumFeatures() != 21 {
		t.Fatalf("%d names, %d genes, %d features; want 21, 19, 21", len(names), enc.NumGenes(), enc.NumFeatures())
	}
	if names[0] != "resolution" || names[19] != "mflops" || names[20] != "mparams" {
		t.Errorf("names = %v", names)
	}
	// The largest subnet is 14,480,512 MACs (hand count in the space
	// package's TestReferenceSpace; its package doc says 14659136, stale).
	f, err := enc.Encode(sp.Max())
	if err != nil {
		t.Fatal(err)
	}
	if f[19] != 14.480512 || f[20] != float64(sp.Params(sp.Max()))/1e6 {
		t.Errorf("derived features of Max = %v, %v", f[19], f[20])
	}
}

func TestEncoderErrors(t *testing.T) {
	sp := loadReference(t)
	enc, err := NewEncoder(sp, DefaultEncoderOptions())
	if err != nil {
		t.Fatal(err)
	}
	badGene := sp.Max()
	badGene.Kernels[2] = 7
	short := sp.Max()
	short.Depths = short.Depths[:3]
	good, _ := enc.Encode(sp.Min())
	with := func(g int, v float64) []float64 {
		f := slices.Clone(good)
		f[g] = v
		return f
	}
	encodeCases := []struct {
		name string
		a    space.Arch
		want string
	}{
		{name: "gene not a choice", a: badGene, want: "kernel.mb3 = 7 is not a choice"},
		{name: "too few depths", a: short, want: "4/3/4/4 widths/depths/kernels/expands"},
	}
	for _, c := range encodeCases {
		t.Run("encode/"+c.name, func(t *testing.T) {
			f, err := enc.Encode(c.a)
			if err == nil || f != nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Encode = %v, %v; want nil and an error containing %q", f, err, c.want)
			}
		})
	}
	decodeCases := []struct {
		name string
		f    []float64
		want string
	}{
		{name: "too short", f: good[:19], want: "19 features, want 21"},
		{name: "fractional gene", f: with(0, 24.5), want: "feature 0 (resolution) = 24.5 is not an integral"},
		{name: "NaN gene", f: with(3, math.NaN()), want: "feature 3 (width.mb2) = NaN"},
		{name: "huge gene", f: with(1, 1e300), want: "not an integral gene value"},
		{name: "gene not a choice", f: with(0, 30), want: "30 is not a choice"},
	}
	for _, c := range decodeCases {
		t.Run("decode/"+c.name, func(t *testing.T) {
			a, err := enc.Decode(c.f)
			if err == nil || a.Widths != nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Decode = %v, %v; want an error containing %q", a, err, c.want)
			}
		})
	}
	if err := enc.EncodeInto(make([]float64, 3), sp.Min()); err == nil {
		t.Error("EncodeInto into 3 entries: no error")
	}
	if _, err := NewEncoder(nil, EncoderOptions{}); err == nil {
		t.Error("NewEncoder(nil): no error")
	}
}

func TestEncodeDoesNotAllocate(t *testing.T) {
	sp := loadReference(t)
	a := sp.Random(rand.New(rand.NewPCG(3, 3)))
	raw, _ := NewEncoder(sp, EncoderOptions{})
	def, _ := NewEncoder(sp, DefaultEncoderOptions())
	fr := make([]float64, raw.NumFeatures())
	fd := make([]float64, def.NumFeatures())
	flops, params := sp.FLOPs(a), sp.Params(a)
	if n := testing.AllocsPerRun(100, func() { _ = raw.EncodeInto(fr, a) }); n != 0 {
		t.Errorf("EncodeInto (raw genes): %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = def.EncodeWithCosts(fd, a, flops, params) }); n != 0 {
		t.Errorf("EncodeWithCosts: %v allocations", n)
	}
}
