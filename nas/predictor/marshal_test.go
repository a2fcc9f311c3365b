package predictor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden models in testdata/")

func TestMarshalRoundTrip(t *testing.T) {
	s, ms := fittedModels(t)
	for _, m := range ms {
		t.Run(m.Kind(), func(t *testing.T) {
			b, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, m) {
				t.Fatalf("Unmarshal(Marshal(m)) is not m")
			}
			for i, x := range s.X {
				if got, want := back.Predict(x), m.Predict(x); math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("row %d: decoded model predicts %v, original %v", i, got, want)
				}
			}
			again, err := Marshal(back)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("Marshal(Unmarshal(b)) != b (%v)", err)
			}
			t.Logf("%s: %d bytes", m.Kind(), len(b))
		})
	}
	for _, bad := range []Model{nil, (*Forest)(nil), (*GBT)(nil), (*Ridge)(nil)} {
		if b, err := Marshal(bad); err == nil || b != nil {
			t.Errorf("Marshal(%#v) = %d bytes, %v; want an error", bad, len(b), err)
		}
	}
}

// goldenData is the tiny training set of the golden models: y = x0 + 2*x1
// on a 3x3 grid plus a little deterministic wiggle.
func goldenData() ([][]float64, []float64) {
	var X [][]float64
	var y []float64
	for a := range 3 {
		for b := range 3 {
			X = append(X, []float64{float64(a), float64(b)})
			y = append(y, float64(a)+2*float64(b)+0.1*float64((a*7+b*3)%5))
		}
	}
	return X, y
}

// goldenModels fits the models stored in testdata/*.bin: small enough to
// read in a hex dump, and a check that the format and the fitting
// algorithms do not change by accident.
func goldenModels(t testing.TB) map[string]Model {
	X, y := goldenData()
	cfg := Config{Forest: ForestConfig{Trees: 3, MaxDepth: 2}, GBT: GBTConfig{Rounds: 3, MaxDepth: 2, MinSamplesLeaf: 1}}
	out := map[string]Model{}
	for _, kind := range Kinds() {
		m, err := Fit(kind, X, y, cfg, rand.New(rand.NewPCG(42, 42)))
		if err != nil {
			t.Fatal(err)
		}
		out[kind] = m
	}
	return out
}

func TestGoldenModels(t *testing.T) {
	X, _ := goldenData()
	for kind, m := range goldenModels(t) {
		t.Run(kind, func(t *testing.T) {
			path := filepath.Join("testdata", kind+".bin")
			b, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenModels -update to create it)", err)
			}
			g, err := Unmarshal(golden)
			if err != nil {
				t.Fatalf("golden %s no longer decodes: %v", path, err)
			}
			// Refitting reproduces the golden bytes on amd64; other
			// architectures may fuse multiply-adds and round differently.
			if runtime.GOARCH == "amd64" && !bytes.Equal(b, golden) {
				t.Errorf("refit %s differs from %s: the format or the fit changed (rerun with -update if intended)", kind, path)
			}
			for _, x := range X {
				if math.Abs(g.Predict(x)-m.Predict(x)) > tol {
					t.Errorf("golden predicts %v at %v, refit %v", g.Predict(x), x, m.Predict(x))
				}
			}
		})
	}
}

// Hand-built serialisations for the error table. forestLeaf is a forest of
// one tree of one leaf predicting 0.5 for 2 features:
//
//	"NASP" 01 00 | 01 00 | 02 00 00 00 | 10 00 00 00 (payload 16 bytes)
//	trees 1 | nodes 1 | feature -1 | value 0.5 | CRC-32
func forestLeaf() []byte {
	p := binary.LittleEndian.AppendUint32(nil, 1)
	p = binary.LittleEndian.AppendUint32(p, 1)
	p = binary.LittleEndian.AppendUint32(p, math.MaxUint32) // -1
	p = binary.LittleEndian.AppendUint64(p, math.Float64bits(0.5))
	return build(kindCodeForest, 2, p)
}

// build frames a payload with a header and a valid checksum.
func build(code byte, nf uint32, payload []byte) []byte {
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint16(b, formatVersion)
	b = append(b, code, 0)
	b = binary.LittleEndian.AppendUint32(b, nf)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// reseal rewrites the payload length and checksum of b so that a mutation
// of the payload reaches the payload parser.
func reseal(b []byte) []byte {
	if len(b) < headerLen+4 {
		return b
	}
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(b)-headerLen-4))
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
	return b
}

// treePayload is a one-tree payload with the given nodes, each written as
// (feature, value[, right]).
func treePayload(nodes ...[]int64) []byte {
	le := binary.LittleEndian
	p := le.AppendUint32(nil, 1)
	p = le.AppendUint32(p, uint32(len(nodes)))
	for _, n := range nodes {
		p = le.AppendUint32(p, uint32(int32(n[0])))
		p = le.AppendUint64(p, math.Float64bits(float64(n[1])))
		if len(n) > 2 {
			p = le.AppendUint32(p, uint32(n[2]))
		}
	}
	return p
}

func TestUnmarshalErrors(t *testing.T) {
	good := forestLeaf()
	if m, err := Unmarshal(good); err != nil || m.Predict([]float64{0, 0}) != 0.5 {
		t.Fatalf("the hand-built forest does not decode: %v, %v", m, err)
	}
	patch := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	nanPayload := treePayload([]int64{-1, 0})
	binary.LittleEndian.PutUint64(nanPayload[12:], math.Float64bits(math.NaN()))
	cases := []struct {
		name        string
		data        []byte
		unsupported bool  // an UnsupportedError, else a *FormatError
		is          error // sentinel it must wrap
		want        string
	}{
		{name: "empty", data: nil, is: io.ErrUnexpectedEOF, want: "header"},
		{name: "truncated", data: good[:len(good)-3], is: io.ErrUnexpectedEOF, want: "payload length"},
		{name: "trailing byte", data: append(bytes.Clone(good), 0), want: "trailing data"},
		{name: "bad magic", data: patch(0, 'P', 'N', 'G', ' '), want: "magic"},
		{name: "future version", data: patch(4, 2, 0), unsupported: true, want: "format version 2"},
		{name: "unknown kind", data: patch(6, 9), unsupported: true, want: "kind code 9"},
		{name: "reserved byte", data: reseal(patch(7, 1)), want: "reserved"},
		{name: "no features", data: reseal(patch(8, 0, 0, 0, 0)), want: "features"},
		{name: "flipped bit", data: patch(30, good[30]^1), is: ErrChecksum, want: "checksum"},
		{name: "zero trees", data: build(kindCodeForest, 2, []byte{0, 0, 0, 0}), want: "expected at least one tree"},
		{name: "huge tree count", data: build(kindCodeForest, 2, []byte{0xff, 0xff, 0xff, 0xff}), is: io.ErrUnexpectedEOF, want: "trees"},
		{name: "huge node count", data: build(kindCodeForest, 2, append([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}, make([]byte, 16)...)), is: io.ErrUnexpectedEOF, want: "(tree[0].nodes)"},
		{name: "feature out of range", data: build(kindCodeForest, 2, treePayload([]int64{2, 0, 2}, []int64{-1, 0}, []int64{-1, 1})), want: "(tree[0].node[0].feature): 2,"},
		{name: "negative feature", data: build(kindCodeForest, 2, treePayload([]int64{-2, 0})), want: "(tree[0].node[0].feature): -2,"},
		{name: "right child is left child", data: build(kindCodeForest, 2, treePayload([]int64{0, 0, 1}, []int64{-1, 0}, []int64{-1, 1})), want: "(tree[0].node[0].right): 1,"},
		{name: "right child out of range", data: build(kindCodeForest, 2, treePayload([]int64{0, 0, 3}, []int64{-1, 0}, []int64{-1, 1})), want: "(tree[0].node[0].right): 3,"},
		{name: "internal last node", data: build(kindCodeForest, 2, treePayload([]int64{-1, 0}, []int64{0, 0, 2})), want: "(tree[0].node[1].right): 2,"},
		{name: "NaN leaf", data: build(kindCodeForest, 2, nanPayload), want: "(tree[0].node[0].value): NaN"},
		{name: "tree cut short", data: build(kindCodeForest, 2, treePayload([]int64{0, 0, 2}, []int64{-1, 0}, []int64{-1, 1})[:46]), is: io.ErrUnexpectedEOF, want: "(tree[0].node[2].value)"},
		{name: "left over payload", data: build(kindCodeForest, 2, append(treePayload([]int64{-1, 0}), 0)), want: "1 bytes left over"},
		{name: "gbt without trees", data: build(kindCodeGBT, 2, make([]byte, 8)), is: io.ErrUnexpectedEOF, want: "trees"},
		{name: "ridge bad type", data: build(kindCodeRidge, 1, append(make([]byte, 16), 7, 0, 0, 0, 0, 0, 0, 0, 0)), want: "(feature[0].type): 7,"},
		{name: "ridge decreasing levels", data: build(kindCodeRidge, 1, ridgePayload(2, 1)), want: "(feature[0].level): 1 after 2"},
		{name: "ridge repeated level", data: build(kindCodeRidge, 1, ridgePayload(1, 1)), want: "expected increasing levels"},
		{name: "ridge missing features", data: build(kindCodeRidge, 3, ridgePayload(1, 2)), is: io.ErrUnexpectedEOF, want: "(feature[1].type)"},
		{name: "ridge negative lambda", data: build(kindCodeRidge, 1, append(binary.LittleEndian.AppendUint64(nil, math.Float64bits(-1)), ridgePayload(1, 2)[8:]...)), want: "(lambda): -1,"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Unmarshal(c.data)
			if m != nil || err == nil {
				t.Fatalf("Unmarshal = %v, %v; want nil and an error", m, err)
			}
			var fe *FormatError
			var ue UnsupportedError
			switch {
			case c.unsupported && !errors.As(err, &ue):
				t.Errorf("error %q is not an UnsupportedError", err)
			case !c.unsupported && !errors.As(err, &fe):
				t.Errorf("error %q is not a *FormatError", err)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q does not wrap %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "predictor: ") {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// ridgePayload is a ridge of one one-hot feature with two levels l0, l1.
func ridgePayload(l0, l1 float64) []byte {
	le := binary.LittleEndian
	p := le.AppendUint64(nil, math.Float64bits(1))     // lambda
	p = le.AppendUint64(p, math.Float64bits(0.8))      // intercept
	p = append(p, 1)                                   // one-hot
	p = le.AppendUint32(p, 2)                          // levels
	p = le.AppendUint64(p, math.Float64bits(l0))       // level 0
	p = le.AppendUint64(p, math.Float64bits(l1))       // level 1
	p = le.AppendUint64(p, math.Float64bits(0.01))     // weight 0
	return le.AppendUint64(p, math.Float64bits(-0.01)) // weight 1
}

// FuzzUnmarshal: bytes either fail to decode, with a typed error and a nil
// model, or decode to a model that re-encodes to the same bytes (the
// encoding is canonical) and predicts without panicking. Each input is also
// tried resealed (valid length and checksum), so mutations reach the
// payload parser instead of stopping at the CRC.
func FuzzUnmarshal(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.bin"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(forestLeaf())
	f.Add(build(kindCodeRidge, 1, ridgePayload(1, 2)))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range [][]byte{data, reseal(data)} {
			m, err := Unmarshal(b)
			if err != nil {
				var fe *FormatError
				var ue UnsupportedError
				if m != nil || !(errors.As(err, &fe) || errors.As(err, &ue)) {
					t.Fatalf("Unmarshal = %v, %T %v", m, err, err)
				}
				continue
			}
			out, err := Marshal(m)
			if err != nil {
				t.Fatalf("Marshal of a decoded model: %v", err)
			}
			if !bytes.Equal(out, b) {
				t.Fatalf("decode then encode changed the bytes:\n in %x\nout %x", b, out)
			}
			x := make([]float64, m.NumFeatures())
			for _, v := range []float64{0, -1e9, 1e9, math.NaN()} {
				for i := range x {
					x[i] = v
				}
				m.Predict(x)
			}
		}
	})
}
