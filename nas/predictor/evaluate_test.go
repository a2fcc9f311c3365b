package predictor

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEvaluate(t *testing.T) {
	s := smallSet(t, 200, 8)
	cfg := Config{Forest: ForestConfig{Trees: 20}, GBT: GBTConfig{Rounds: 60}}
	all, err := EvaluateAll(nil, s.X, s.y, cfg, 0.25, rand.New(rand.NewPCG(8, 8)))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d results, want one per kind", len(all))
	}
	for i, r := range all {
		t.Log(r.Report)
		rep := r.Report
		if rep.Fit != 150 || rep.Holdout != 50 {
			t.Errorf("%s: fit %d, held out %d; want 150, 50", rep.Kind, rep.Fit, rep.Holdout)
		}
		if !(rep.KendallTau > 0.3 && rep.Spearman > rep.KendallTau && rep.RMSE > 0 && rep.R2 > 0) {
			t.Errorf("%s: implausible report %+v", rep.Kind, rep)
		}
		if i > 0 && rep.KendallTau > all[i-1].Report.KendallTau {
			t.Errorf("results not sorted by tau: %v after %v", rep.KendallTau, all[i-1].Report.KendallTau)
		}
		// Evaluate of one kind from the same seed is the same evaluation.
		one, m, err := Evaluate(rep.Kind, s.X, s.y, cfg, 0.25, rand.New(rand.NewPCG(8, 8)))
		if err != nil {
			t.Fatal(err)
		}
		if one != rep {
			t.Errorf("Evaluate(%s) = %+v, EvaluateAll gave %+v", rep.Kind, one, rep)
		}
		b1, _ := Marshal(m)
		b2, _ := Marshal(r.Model)
		if !bytes.Equal(b1, b2) {
			t.Errorf("%s: Evaluate and EvaluateAll return different models", rep.Kind)
		}
		// The returned model is refitted on every pair: ridge needs no rng,
		// so it must equal a plain fit on all of them.
		if rep.Kind == KindRidge {
			full, err := FitRidge(s.X, s.y, cfg.Ridge)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(full, r.Model) {
				t.Error("Evaluate's ridge is not the ridge of all pairs")
			}
		}
	}
}

func TestSortResults(t *testing.T) {
	nan := math.NaN()
	rs := []Result{}
	for i, tau := range []float64{0.2, nan, 0.7, 0.2, nan, 0.9} {
		rs = append(rs, Result{Report: Report{Kind: string(rune('a' + i)), KendallTau: tau}})
	}
	sortResults(rs)
	var got []string
	for _, r := range rs {
		got = append(got, r.Report.Kind)
	}
	if want := []string{"f", "c", "a", "d", "b", "e"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestEvaluateErrors(t *testing.T) {
	s := smallSet(t, 10, 9)
	cases := []struct {
		name string
		kind string
		n    int
		frac float64
		want string
	}{
		{name: "zero fraction", kind: KindRidge, n: 10, frac: 0, want: "holdout fraction 0"},
		{name: "whole set", kind: KindRidge, n: 10, frac: 1, want: "holdout fraction 1"},
		{name: "NaN fraction", kind: KindRidge, n: 10, frac: math.NaN(), want: "holdout fraction NaN"},
		{name: "too few to fit", kind: KindRidge, n: 3, frac: 0.5, want: "leave 1 to fit and 2 to hold out"},
		{name: "too few to hold out", kind: KindRidge, n: 10, frac: 0.1, want: "leave 9 to fit and 1 to hold out"},
		{name: "unknown kind", kind: "svm", n: 10, frac: 0.3, want: `unknown model kind "svm"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, m, err := Evaluate(c.kind, s.X[:c.n], s.y[:c.n], Config{}, c.frac, rand.New(rand.NewPCG(1, 1)))
			if err == nil || m != nil || rep != (Report{}) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Evaluate = %v, %v, %v; want an error containing %q", rep, m, err, c.want)
			}
		})
	}
	if _, err := EvaluateAll(nil, s.X, s.y[:5], Config{}, 0.3, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("EvaluateAll with 10 rows and 5 targets: no error")
	}
}
