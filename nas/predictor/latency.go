package predictor

import (
	"fmt"
	"math"
)

// LatencyModel estimates a subnet's measured latency from its cost:
// latency = A + B*MFLOPs + C*MParams, fitted by least squares on subnets
// whose latency was measured. It lets the search honour a latency budget
// without timing every candidate.
type LatencyModel struct{ A, B, C float64 }

// FitLatencyModel fits a LatencyModel to measured latencies (any unit).
func FitLatencyModel(flops, params []int64, latency []float64) (LatencyModel, error) {
	n := len(latency)
	if len(flops) != n || len(params) != n {
		return LatencyModel{}, fmt.Errorf("predictor: latency model: %d flops, %d params, %d latencies", len(flops), len(params), n)
	}
	if n < 3 {
		return LatencyModel{}, fmt.Errorf("predictor: latency model: %d measurements, need at least 3", n)
	}
	// Normal equations of the 3-parameter least squares, solved by
	// Gaussian elimination with partial pivoting.
	var m [3][4]float64
	for i := range n {
		row := [3]float64{1, float64(flops[i]) / 1e6, float64(params[i]) / 1e6}
		for r := range 3 {
			for c := range 3 {
				m[r][c] += row[r] * row[c]
			}
			m[r][3] += row[r] * latency[i]
		}
	}
	for col := range 3 {
		p := col
		for r := col + 1; r < 3; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[p][col]) {
				p = r
			}
		}
		m[col], m[p] = m[p], m[col]
		if math.Abs(m[col][col]) < 1e-12 {
			return LatencyModel{}, fmt.Errorf("predictor: latency model: costs are collinear (all subnets alike?)")
		}
		for r := range 3 {
			if r == col {
				continue
			}
			f := m[r][col] / m[col][col]
			for c := col; c < 4; c++ {
				m[r][c] -= f * m[col][c]
			}
		}
	}
	return LatencyModel{A: m[0][3] / m[0][0], B: m[1][3] / m[1][1], C: m[2][3] / m[2][2]}, nil
}

// Predict estimates the latency of a subnet with the given costs.
func (l LatencyModel) Predict(flops, params int64) float64 {
	return l.A + l.B*float64(flops)/1e6 + l.C*float64(params)/1e6
}
