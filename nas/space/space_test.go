package space

import (
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

func loadReference(t *testing.T) *Space {
	t.Helper()
	data, err := os.ReadFile("../../configs/fmnist.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(data, "configs/fmnist.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tiny is a one-stage space small enough to count by hand.
const tiny = `{
  "name": "tiny",
  "input": {"channels": 1, "height": 8, "width": 8},
  "classes": 4,
  "resolutions": [8],
  "first_conv": {"c": [8], "k": 3, "s": 2},
  "stages": [{"name": "s1", "c": [16], "d": [1, 2], "k": [3], "t": [2], "s": 2, "se": true}],
  "last_conv": {"c": [32], "expand": 2},
  "activation": "hswish"
}`

func TestMakeDivisible(t *testing.T) {
	cases := []struct {
		v    float64
		want int
	}{
		{1, 8}, {2, 8}, {8, 8}, {12, 16}, {36, 40}, {72, 72}, {144, 144},
		{11, 16}, // rounds to 8, which loses more than 10%: +8
		{19, 24}, // rounds to 16 < 17.1: +8
		{91, 88}, // rounds to 88 >= 81.9
	}
	for _, c := range cases {
		if got := MakeDivisible(c.v); got != c.want {
			t.Errorf("MakeDivisible(%v) = %d, want %d", c.v, got, c.want)
		}
	}
}

// TestTinyCost checks the cost model against a hand count.
func TestTinyCost(t *testing.T) {
	s, err := Parse([]byte(tiny), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	a := s.Max() // r 8, stem 8, width 16, head 32, depth 2, k 3, t 2
	// stem: 1*8*9 MACs per output pixel, stride 2 -> 4x4 outputs.
	stem := int64(1 * 8 * 9 * 16)
	// block 0: cin 8, mid make_div(16)=16, stride 2: 4x4 -> 2x2.
	//   expand 8*16*16, dw 16*9*4, SE 2*16*make_div(4)=2*16*8, project 16*16*4,
	//   shortcut conv 8*16*4 (cin != cout), avg pool free.
	b0 := int64(8*16*16 + 16*9*4 + 2*16*8 + 16*16*4 + 8*16*4)
	// block 1: cin 16, mid 32, stride 1 at 2x2: expand 16*32*4, dw 32*9*4,
	//   SE 2*32*8, project 32*16*4, identity shortcut.
	b1 := int64(16*32*4 + 32*9*4 + 2*32*8 + 32*16*4)
	// head: 16 -> 32 at 2x2, linear 32 -> 32, classifier 32 -> 4.
	head := int64(16*32*4 + 32*32 + 32*4)
	if got, want := s.FLOPs(a), stem+b0+b1+head; got != want {
		t.Errorf("FLOPs = %d, want %d", got, want)
	}
	params := int64(9*8 + 2*8) // stem conv + BN
	params += 8*16 + 2*16      // b0 expand + BN
	params += 16*9 + 2*16      // b0 dw + BN
	params += 16*8 + 8 + 8*16 + 16
	params += 16*16 + 2*16 // project + BN
	params += 8 * 16       // shortcut conv
	params += 16*32 + 2*32
	params += 32*9 + 2*32
	params += 32*8 + 8 + 8*32 + 32
	params += 32*16 + 2*16
	params += 16*32 + 2*32 // head expand + BN
	params += 32*32 + 32   // feature mix + bias
	params += 32*4 + 4     // classifier
	if got := s.Params(a); got != params {
		t.Errorf("Params = %d, want %d", got, params)
	}
	// Depth 1 drops block 1 entirely.
	a.Depths[0] = 1
	if got, want := s.FLOPs(a), stem+b0+head; got != want {
		t.Errorf("depth-1 FLOPs = %d, want %d", got, want)
	}
}

// TestReferenceSpace pins the reference space's extremes (ALGORITHM.md:
// 0.73 to ~14.5 MMACs) and size.
func TestReferenceSpace(t *testing.T) {
	s := loadReference(t)
	min, max := s.Min(), s.Max()
	if got, want := min.String(), "[24 8 8 16 24 32 128 1 1 1 1 3 3 3 3 1 3 3 4]"; got != want {
		t.Errorf("Min = %s, want %s", got, want)
	}
	if got, want := max.String(), "[32 16 12 24 32 48 192 2 3 3 3 5 5 5 5 1 6 6 6]"; got != want {
		t.Errorf("Max = %s, want %s", got, want)
	}
	// Hand counts, layer by layer, in TestTinyCost's style (see plan.go):
	// max = 147456 stem + 1257472 mb1 + 7243776 mb2 + 3694848 mb3 +
	// 1858560 mb4 + 278400 head.
	if got := s.FLOPs(max); got != 14480512 {
		t.Errorf("FLOPs(max) = %d, want 14480512", got)
	}
	if got := s.FLOPs(min); got != 729248 {
		t.Errorf("FLOPs(min) = %d, want 729248", got)
	}
	if got := s.Size().Int64(); got != 3*2*8*36*36*24*2 {
		t.Errorf("Size = %d", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		a := s.Random(rng)
		if err := s.Validate(a); err != nil {
			t.Fatal(err)
		}
		f := s.FLOPs(a)
		if f < s.FLOPs(min) || f > s.FLOPs(max) {
			t.Fatalf("random arch %v has FLOPs %d outside [min, max]", a, f)
		}
		b, err := s.ArchFromVector(a.Vector())
		if err != nil || !b.Equal(a) {
			t.Fatalf("round trip of %v: %v, %v", a, b, err)
		}
	}
}

func TestSlotsCoverEveryPlan(t *testing.T) {
	s := loadReference(t)
	slots := s.Slots()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, a := range append([]Arch{s.Min(), s.Max()}, s.Random(rng), s.Random(rng), s.Random(rng)) {
		for _, b := range s.Plan(a).Blocks {
			sl := slots[s.SlotIndex(b.Stage, b.Index)]
			if sl.Stage != b.Stage || sl.Index != b.Index {
				t.Fatalf("slot %+v for block %+v", sl, b)
			}
			if b.Cin > sl.MaxCin || b.Cout > sl.MaxCout || b.Mid > sl.MaxMid || b.K > sl.MaxK ||
				b.SEMid > sl.MaxSEMid || (b.ShortcutConv && !sl.ShortcutConv) || b.Expand != sl.Expand {
				t.Fatalf("block %+v does not fit slot %+v", b, sl)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, edit, want string
	}{
		{"not json", `{`, "not valid JSON or YAML"},
		{"unknown field", `"activation": "hswish", "colour": 1`, `unknown field "colour"`},
		{"wrong type", `"classes": "ten"`, `field "classes"`},
		{"even kernel", `"k": [3], "t": [2]`, "stages[0].k[0]: 4"},
		{"bad stride", `"s": 2, "se"`, "stages[0].s: 3: expected stride 1 or 2"},
		{"bad activation", `"activation": "hswish"`, `"gelu": expected one of`},
		{"duplicate choice", `"d": [1, 2]`, "stages[0].d[1]: 1: duplicate choice"},
		{"no stages", `"stages": [{`, "stages: empty"},
		{"channels", `"channels": 1`, "input.channels: 2"},
	}
	repl := map[string][2]string{
		"unknown field":    {`"activation": "hswish"`, `"activation": "hswish", "colour": 1`},
		"wrong type":       {`"classes": 4`, `"classes": "ten"`},
		"even kernel":      {`"k": [3], "t": [2]`, `"k": [4], "t": [2]`},
		"bad stride":       {`"s": 2, "se"`, `"s": 3, "se"`},
		"bad activation":   {`"activation": "hswish"`, `"activation": "gelu"`},
		"duplicate choice": {`"d": [1, 2]`, `"d": [1, 1]`},
		"no stages":        {`"stages": [{"name": "s1", "c": [16], "d": [1, 2], "k": [3], "t": [2], "s": 2, "se": true}]`, `"stages": []`},
		"channels":         {`"channels": 1`, `"channels": 2`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := `{`
			if r, ok := repl[c.name]; ok {
				if !strings.Contains(tiny, r[0]) {
					t.Fatalf("test edit %q does not apply", r[0])
				}
				src = strings.Replace(tiny, r[0], r[1], 1)
			}
			s, err := Parse([]byte(src), "bad.json")
			if s != nil || err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", c.want)
			}
			var se *Error
			if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.json") {
				t.Fatalf("error %q, want a *space.Error naming bad.json and containing %q", err, c.want)
			}
		})
	}
}

func TestYAMLEqualsJSON(t *testing.T) {
	y := `
name: tiny
input: {channels: 1, height: 8, width: 8}
classes: 4
resolutions: [8]
first_conv: {c: [8], k: 3, s: 2}
stages:
  - {name: s1, c: [16], d: [1, 2], k: [3], t: [2], s: 2, se: true}
last_conv: {c: [32], expand: 2}
activation: hswish
`
	a, err := Parse([]byte(y), "tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(tiny), "tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(b) || a.Fingerprint() != b.Fingerprint() {
		t.Fatalf("YAML and JSON spaces differ:\n%s\n%s", a.JSON(), b.JSON())
	}
}

func TestArchErrors(t *testing.T) {
	s := loadReference(t)
	cases := []struct {
		name string
		v    []int
		want string
	}{
		{"short", []int{32, 16}, "has 2 numbers, expected 19"},
		{"bad resolution", []int{30, 16, 12, 24, 32, 48, 192, 2, 3, 3, 3, 5, 5, 5, 5, 1, 6, 6, 6}, "arch.resolution: 30 is not a choice"},
		{"bad kernel", []int{32, 16, 12, 24, 32, 48, 192, 2, 3, 3, 3, 5, 7, 5, 5, 1, 6, 6, 6}, "arch.kernel.mb2: 7"},
		{"bad expand", []int{32, 16, 12, 24, 32, 48, 192, 2, 3, 3, 3, 5, 5, 5, 5, 6, 6, 6, 6}, "arch.expand.mb1: 6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.ArchFromVector(c.v)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestParseRejectsDuplicateKeys: a key given twice (in YAML or JSON, at the
// top level or inside a stage) is an error naming the key and its line, not
// a silent last-one-wins.
func TestParseRejectsDuplicateKeys(t *testing.T) {
	ref, err := os.ReadFile("../../configs/fmnist.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, want string
	}{
		{"yaml top level", "name: x\nclasses: 10\nclasses: 12\n", `line 3: key "classes"`},
		{"json top level", strings.Replace(string(ref), `"classes": 10,`, `"classes": 10, "classes": 12,`, 1), `key "classes"`},
		{"yaml nested", "name: x\nstages:\n  - name: a\n    c: [8]\n    c: [16]\n", `line 5: key "c"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.file, "classes\": 12") && tc.name == "json top level" {
				t.Fatal("the reference space no longer has the expected classes line")
			}
			s, err := Parse([]byte(tc.file), "f")
			var se *Error
			if s != nil || !errors.As(err, &se) || !strings.Contains(err.Error(), "duplicate key") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want a duplicate-key error naming %s", s, err, tc.want)
			}
		})
	}
}

// TestParseArch: an arch is read from its key (the form the tool prints)
// and from JSON alike; bad text is an error that shows both forms.
func TestParseArch(t *testing.T) {
	sp := loadReference(t)
	a := sp.Random(rand.New(rand.NewPCG(3, 4)))
	for _, text := range []string{a.Key(), " " + a.Key() + "\n", "[" + strings.ReplaceAll(a.Key(), "-", ", ") + "]"} {
		b, err := sp.ParseArch(text)
		if err != nil || !b.Equal(a) {
			t.Fatalf("ParseArch(%q) = %v, %v; want %v", text, b, err, a)
		}
	}
	for _, text := range []string{"", "24-8-x", "[24,8]", "24-8-8", "24 8 8", "-1-8"} {
		if _, err := sp.ParseArch(text); err == nil {
			t.Errorf("ParseArch(%q) accepted", text)
		}
	}
	_, err := sp.ParseArch("24-8-x")
	if err == nil || !strings.Contains(err.Error(), "24-8-8-...") || !strings.Contains(err.Error(), "[24,8,8,...]") {
		t.Errorf("error %v does not show the accepted forms", err)
	}
}
