package predictor

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Report is the held-out quality of one model kind on one set of
// (features, accuracy) pairs: the numbers the predictor stage records next
// to the serialised model.
type Report struct {
	Kind    string `json:"kind"`
	Fit     int    `json:"fit"`     // pairs the evaluated model was fitted on
	Holdout int    `json:"holdout"` // pairs the metrics below are computed on
	// KendallTau is tau-b between predicted and true held-out accuracies,
	// the number ALGORITHM.md section 8 asks for; it ranks the kinds.
	KendallTau float64 `json:"kendall_tau"`
	Spearman   float64 `json:"spearman"`
	RMSE       float64 `json:"rmse"` // in accuracy units (fractions)
	R2         float64 `json:"r2"`
}

// String formats r on one line, e.g.
// "random_forest: tau 0.609 rho 0.796 rmse 0.0032 r2 0.67 (fit 300, held out 100)".
func (r Report) String() string {
	return fmt.Sprintf("%s: tau %.3f rho %.3f rmse %.4f r2 %.2f (fit %d, held out %d)",
		r.Kind, r.KendallTau, r.Spearman, r.RMSE, r.R2, r.Fit, r.Holdout)
}

// Result pairs a Report with the model refitted on every pair.
type Result struct {
	Report Report
	Model  Model
}

// Evaluate measures how well a model of the given kind ranks architectures
// it was not fitted on, then returns the model to use.
//
//  1. Split: a permutation drawn from rng sends round(holdoutFraction * n)
//     pairs to the held-out part and the rest to the fit part; both need at
//     least two pairs.
//  2. Fit on the fit part, predict the held-out part, and report Kendall
//     tau-b, Spearman rho, RMSE and R2 against the true accuracies.
//  3. Refit on all n pairs with the same hyper-parameters and return that
//     model: more data is a better predictor, and the report is an honest
//     (slightly pessimistic) estimate of its quality.
//
// The model randomness comes from a PCG generator seeded with two values
// drawn from rng right after the split, so for the same rng state Evaluate
// returns exactly what EvaluateAll returns for that kind.
//
// See also EvaluateAll, KendallTau.
func Evaluate(kind string, X [][]float64, y []float64, cfg Config, holdoutFraction float64, rng *rand.Rand) (Report, Model, error) {
	sp, err := newSplit(X, y, holdoutFraction, rng)
	if err != nil {
		return Report{}, nil, err
	}
	res, err := sp.evaluate(kind, cfg)
	if err != nil {
		return Report{}, nil, err
	}
	return res.Report, res.Model, nil
}

// EvaluateAll runs Evaluate for each kind (every kind of Kinds when kinds
// is empty) on one shared split, so the reports are comparable, and returns
// the results best first: by held-out Kendall tau, descending, NaN last,
// ties in the order of kinds. The predictor stage keeps Results[0].Model.
func EvaluateAll(kinds []string, X [][]float64, y []float64, cfg Config, holdoutFraction float64, rng *rand.Rand) ([]Result, error) {
	if len(kinds) == 0 {
		kinds = Kinds()
	}
	sp, err := newSplit(X, y, holdoutFraction, rng)
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(kinds))
	for _, k := range kinds {
		r, err := sp.evaluate(k, cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sortResults(out)
	return out, nil
}

// sortResults orders results by Kendall tau, descending, NaN last, stably.
func sortResults(rs []Result) {
	slices.SortStableFunc(rs, func(a, b Result) int {
		ta, tb := a.Report.KendallTau, b.Report.KendallTau
		switch {
		case math.IsNaN(ta) && math.IsNaN(tb):
			return 0
		case math.IsNaN(ta):
			return 1
		case math.IsNaN(tb):
			return -1
		}
		return cmp.Compare(tb, ta)
	})
}

// split is one fit / held-out partition and the seed of the model fits.
type split struct {
	X            [][]float64
	y            []float64
	fitX, hoX    [][]float64
	fitY, hoY    []float64
	seed1, seed2 uint64
}

func newSplit(X [][]float64, y []float64, frac float64, rng *rand.Rand) (*split, error) {
	if len(X) != len(y) {
		return nil, fmt.Errorf("predictor: Evaluate: %d feature rows but %d targets", len(X), len(y))
	}
	if !(frac > 0 && frac < 1) {
		return nil, fmt.Errorf("predictor: Evaluate: holdout fraction %v, expected a value in (0,1)", frac)
	}
	n := len(X)
	h := int(math.Round(frac * float64(n)))
	if h < 2 || n-h < 2 {
		return nil, fmt.Errorf("predictor: Evaluate: %d pairs with holdout fraction %v leave %d to fit and %d to hold out, need at least 2 each",
			n, frac, n-h, h)
	}
	s := &split{X: X, y: y}
	for i, p := range rng.Perm(n) {
		if i < h {
			s.hoX, s.hoY = append(s.hoX, X[p]), append(s.hoY, y[p])
		} else {
			s.fitX, s.fitY = append(s.fitX, X[p]), append(s.fitY, y[p])
		}
	}
	s.seed1, s.seed2 = rng.Uint64(), rng.Uint64()
	return s, nil
}

func (s *split) evaluate(kind string, cfg Config) (Result, error) {
	rng := rand.New(rand.NewPCG(s.seed1, s.seed2))
	m, err := Fit(kind, s.fitX, s.fitY, cfg, rng)
	if err != nil {
		return Result{}, err
	}
	pred := make([]float64, len(s.hoX))
	for i, x := range s.hoX {
		pred[i] = m.Predict(x)
	}
	rep := Report{
		Kind: kind, Fit: len(s.fitX), Holdout: len(s.hoX),
		KendallTau: KendallTau(pred, s.hoY), Spearman: Spearman(pred, s.hoY),
		RMSE: RMSE(s.hoY, pred), R2: R2(s.hoY, pred),
	}
	full, err := Fit(kind, s.X, s.y, cfg, rng)
	if err != nil {
		return Result{}, err
	}
	return Result{Report: rep, Model: full}, nil
}
