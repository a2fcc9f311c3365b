package predictor

import (
	"fmt"
	"math"
	"slices"
)

// RidgeConfig sets up ridge regression on one-hot encoded genes. Zero fields
// take the defaults.
type RidgeConfig struct {
	// Lambda is the L2 penalty on the coefficients of the one-hot and
	// standardised columns (the intercept is not penalised). 0 (the default)
	// picks it from 10^-3 to 10^3 in half-decades by the leave-one-out
	// error, computed exactly in closed form from the hat matrix (Allen's
	// PRESS; see Ridge.Lambda for the choice).
	Lambda float64 `json:"lambda"`
	// MaxLevels is the largest number of distinct values a feature may take
	// and still be one-hot encoded (default 16: every gene of the reference
	// space has at most 3 choices); features with more values (e.g. MFLOPs)
	// enter standardised and linear. Negative: no one-hot encoding at all.
	MaxLevels int `json:"max_levels"`
}

// DefaultRidgeConfig returns a leave-one-out-selected penalty and one-hot
// encoding for features of at most 16 values.
func DefaultRidgeConfig() RidgeConfig { return RidgeConfig{Lambda: 0, MaxLevels: 16} }

// ridgeLambdas is the grid of penalties tried when RidgeConfig.Lambda is 0:
// 10^-3 to 10^3 in half-decades (the standardised and one-hot columns have
// unit scale, so this spans "almost unpenalised" to "almost constant").
var ridgeLambdas = []float64{1e-3, 3.16e-3, 1e-2, 3.16e-2, 0.1, 0.316, 1, 3.16, 10, 31.6, 100, 316, 1000}

func (c RidgeConfig) withDefaults() (RidgeConfig, error) {
	if c.MaxLevels == 0 {
		c.MaxLevels = DefaultRidgeConfig().MaxLevels
	}
	if !(c.Lambda >= 0) || math.IsInf(c.Lambda, 0) {
		return c, fmt.Errorf("predictor: ridge: Lambda = %v, expected a finite value >= 0 (0: chosen by leave-one-out)", c.Lambda)
	}
	return c, nil
}

// Ridge is a ridge-regression model (Hoerl and Kennard, Technometrics 1970)
// on one-hot encoded genes: each feature with few distinct values (a gene)
// contributes one learned weight per value, any other feature a linear
// term. It is additive, so it ranks by main effects only and misses the
// interactions trees find; it is the cheap, stable baseline. Input: a
// feature vector of NumFeatures() values (see Encoder); output: the
// predicted accuracy.
//
// A gene value not seen in fitting uses the weight of the nearest seen
// value (the lower on a tie).
//
// See also FitRidge, Forest.
type Ridge struct {
	lambda    float64
	intercept float64
	feats     []ridgeFeature
}

// ridgeFeature is one input feature: linear (levels == nil) or one-hot.
type ridgeFeature struct {
	coef    float64   // linear: contribution coef * x
	levels  []float64 // one-hot: the distinct values seen, increasing
	weights []float64 // one-hot: contribution of each level
}

// FitRidge fits ridge regression to X and y. Columns: for every feature with
// at most MaxLevels distinct values, one indicator per value; for the
// others, the standardised value. Columns and targets are centred, so the
// intercept is the mean target and is not penalised. The normal equations
// (Z'Z + lambda I) beta = Z'y are solved by Cholesky decomposition. It is
// deterministic and needs no rng.
func FitRidge(X [][]float64, y []float64, cfg RidgeConfig) (*Ridge, error) {
	if err := checkXY("FitRidge", X, y); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n, nf := len(X), len(X[0])

	// Design: col[k] says which feature (and level) column k encodes.
	type column struct {
		feat       int
		level      float64 // one-hot: the value
		mean, std  float64 // linear: standardisation
		continuous bool
	}
	var cols []column
	r := &Ridge{feats: make([]ridgeFeature, nf)}
	for j := range nf {
		vals := make([]float64, n)
		for i, row := range X {
			vals[i] = row[j]
		}
		slices.Sort(vals)
		levels := slices.Compact(vals)
		if len(levels) <= cfg.MaxLevels {
			r.feats[j].levels = slices.Clone(levels)
			r.feats[j].weights = make([]float64, len(levels))
			for _, l := range levels {
				cols = append(cols, column{feat: j, level: l})
			}
			continue
		}
		var m, v float64
		for _, row := range X {
			m += row[j]
		}
		m /= float64(n)
		for _, row := range X {
			v += (row[j] - m) * (row[j] - m)
		}
		if s := math.Sqrt(v / float64(n)); s > 0 {
			cols = append(cols, column{feat: j, mean: m, std: s, continuous: true})
		}
	}
	p := len(cols)
	Z := make([]float64, n*p) // [n, p] centred design
	for i, row := range X {
		for k, c := range cols {
			switch {
			case c.continuous:
				Z[i*p+k] = (row[c.feat] - c.mean) / c.std
			case row[c.feat] == c.level:
				Z[i*p+k] = 1
			}
		}
	}
	mz := make([]float64, p)
	for i := range n {
		for k := range p {
			mz[k] += Z[i*p+k]
		}
	}
	for k := range p {
		mz[k] /= float64(n)
	}
	for i := range n {
		for k := range p {
			Z[i*p+k] -= mz[k]
		}
	}
	var ym float64
	for _, v := range y {
		ym += v
	}
	ym /= float64(n)
	yc := make([]float64, n)
	for i, v := range y {
		yc[i] = v - ym
	}
	G := make([]float64, p*p) // [p, p] Z'Z
	c := make([]float64, p)   // [p] Z'y
	for i := range n {
		zi := Z[i*p : (i+1)*p]
		for a := range p {
			c[a] += zi[a] * yc[i]
			for b := 0; b <= a; b++ {
				G[a*p+b] += zi[a] * zi[b]
			}
		}
	}
	for a := range p {
		for b := 0; b < a; b++ {
			G[b*p+a] = G[a*p+b]
		}
	}

	lambdas := []float64{cfg.Lambda}
	if cfg.Lambda == 0 {
		lambdas = ridgeLambdas
	}
	var beta []float64
	bestLOO := math.Inf(1)
	L := make([]float64, p*p)
	v := make([]float64, p)
	for _, lam := range lambdas {
		copy(L, G)
		for a := range p {
			L[a*p+a] += lam
		}
		if !cholesky(L, p) {
			continue // lambda > 0 makes it positive definite; guard rounding anyway
		}
		bt := slices.Clone(c)
		cholSolve(L, p, bt)
		if len(lambdas) == 1 {
			beta, r.lambda = bt, lam
			break
		}
		// Leave-one-out residual e_i / (1 - h_ii), h_ii = 1/n + z_i' A^-1 z_i
		// (the 1/n is the intercept's share of the hat matrix).
		var loo float64
		for i := range n {
			zi := Z[i*p : (i+1)*p]
			copy(v, zi)
			cholSolve(L, p, v)
			h := 1 / float64(n)
			var pred float64
			for k := range p {
				h += zi[k] * v[k]
				pred += zi[k] * bt[k]
			}
			e := (yc[i] - pred) / (1 - h)
			loo += e * e
		}
		if loo < bestLOO {
			bestLOO, beta, r.lambda = loo, bt, lam
		}
	}
	if beta == nil {
		return nil, fmt.Errorf("predictor: FitRidge: normal equations not positive definite for lambda %v", lambdas)
	}

	// Fold centring and standardisation into per-feature terms.
	r.intercept = ym
	for k, col := range cols {
		f := &r.feats[col.feat]
		r.intercept -= beta[k] * mz[k]
		if col.continuous {
			f.coef = beta[k] / col.std
			r.intercept -= beta[k] * col.mean / col.std
			continue
		}
		f.weights[slices.Index(f.levels, col.level)] = beta[k]
	}
	return r, nil
}

// cholesky overwrites the lower triangle of the symmetric [p, p] matrix a
// with L, a = L L', and reports whether a was positive definite.
func cholesky(a []float64, p int) bool {
	for j := range p {
		s := a[j*p+j]
		for k := range j {
			s -= a[j*p+k] * a[j*p+k]
		}
		if !(s > 0) {
			return false
		}
		d := math.Sqrt(s)
		a[j*p+j] = d
		for i := j + 1; i < p; i++ {
			s := a[i*p+j]
			for k := range j {
				s -= a[i*p+k] * a[j*p+k]
			}
			a[i*p+j] = s / d
		}
	}
	return true
}

// cholSolve solves L L' x = b in place, L from cholesky.
func cholSolve(L []float64, p int, b []float64) {
	for i := range p { // L z = b
		s := b[i]
		for k := range i {
			s -= L[i*p+k] * b[k]
		}
		b[i] = s / L[i*p+i]
	}
	for i := p - 1; i >= 0; i-- { // L' x = z
		s := b[i]
		for k := i + 1; k < p; k++ {
			s -= L[k*p+i] * b[k]
		}
		b[i] = s / L[i*p+i]
	}
}

// Predict returns the intercept plus each feature's contribution.
func (r *Ridge) Predict(features []float64) float64 {
	checkLen(KindRidge, len(features), len(r.feats))
	s := r.intercept
	for j := range r.feats {
		f := &r.feats[j]
		if f.levels == nil {
			s += f.coef * features[j]
		} else {
			s += f.weights[nearest(f.levels, features[j])]
		}
	}
	return s
}

// nearest returns the index of the level closest to x (the lower on a tie;
// the last for NaN). levels is increasing and non-empty.
func nearest(levels []float64, x float64) int {
	for i, l := range levels {
		if l >= x {
			if i > 0 && x-levels[i-1] <= l-x {
				return i - 1
			}
			return i
		}
	}
	return len(levels) - 1
}

// Kind returns KindRidge.
func (r *Ridge) Kind() string { return KindRidge }

// NumFeatures is the length of the feature vectors Predict takes.
func (r *Ridge) NumFeatures() int { return len(r.feats) }

// Lambda is the penalty the model was fitted with (the chosen one when
// RidgeConfig.Lambda was 0).
func (r *Ridge) Lambda() float64 { return r.lambda }
