package data

import (
	"strings"
	"testing"
)

// splitsOf returns the split of every index of s, as a string of initials.
func splitsOf(s *Splitter, total int) string {
	var b strings.Builder
	for i := range total {
		b.WriteByte(s.Split(i)[0])
	}
	return b.String()
}

func TestSplitter(t *testing.T) {
	for _, tc := range []struct {
		name                string
		total, valN, calibN int
		seed                int64
		want                string // initials of the splits, "" to check counts only
	}{
		// Pinned: the assignment must not change across Go releases.
		{"golden", 10, 2, 3, 1, "tvtcctcttv"},
		{"golden seed 3", 10, 2, 3, 3, "vtcvttcttc"},
		{"all train", 5, 0, 0, 7, "ttttt"},
		{"all held out", 3, 1, 2, 7, ""},
		{"empty", 0, 0, 0, 7, ""},
		{"Fashion-MNIST", 60000, 5000, 2000, 42, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSplitter(tc.total, tc.valN, tc.calibN, tc.seed)
			if err != nil {
				t.Fatal(err)
			}
			got := splitsOf(s, tc.total)
			if tc.want != "" && got != tc.want {
				t.Errorf("splits %q, want %q", got, tc.want)
			}
			if v, c := strings.Count(got, "v"), strings.Count(got, "c"); v != tc.valN || c != tc.calibN {
				t.Errorf("%d val and %d calib, want %d and %d", v, c, tc.valN, tc.calibN)
			}
			again, _ := NewSplitter(tc.total, tc.valN, tc.calibN, tc.seed)
			if splitsOf(again, tc.total) != got {
				t.Error("not deterministic")
			}
		})
	}
}

func TestSplitterSeeds(t *testing.T) {
	a, _ := NewSplitter(1000, 100, 100, 1)
	b, _ := NewSplitter(1000, 100, 100, 2)
	if splitsOf(a, 1000) == splitsOf(b, 1000) {
		t.Error("seeds 1 and 2 give the same split")
	}
}

func TestNewSplitterErrors(t *testing.T) {
	for _, tc := range []struct {
		name                string
		total, valN, calibN int
	}{
		{"too many held out", 10, 6, 5},
		{"negative val", 10, -1, 0},
		{"negative calib", 10, 0, -1},
		{"negative total", -1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := NewSplitter(tc.total, tc.valN, tc.calibN, 1); s != nil || err == nil {
				t.Errorf("got %v, %v; want an error", s, err)
			}
		})
	}
}
