package ref

import (
	"fmt"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// need panics unless s holds at least n elements.
func need(fn, name string, s []float64, n int) {
	if n > 0 && len(s) < n {
		panic(fmt.Sprintf("ref: %s: %s has %d elements, need %d", fn, name, len(s), n))
	}
}

// nonneg panics if a dimension is negative.
func nonneg(fn string, dims ...int) {
	for _, v := range dims {
		if v < 0 {
			panic(fmt.Sprintf("ref: %s: negative dimension %d", fn, v))
		}
	}
}

// needMat panics unless s holds a rows x cols matrix with row stride ld.
func needMat(fn, name string, s []float64, rows, cols, ld int) {
	if rows < 0 || cols < 0 || ld < cols {
		panic(fmt.Sprintf("ref: %s: %s: bad shape %dx%d, ld %d", fn, name, rows, cols, ld))
	}
	if rows > 0 && cols > 0 {
		need(fn, name, s, (rows-1)*ld+cols)
	}
}

func checkAct(fn string, a kernels.Act) {
	if a < kernels.ActNone || a > kernels.ActHSigmoid {
		panic(fmt.Sprintf("ref: %s: invalid activation %d", fn, int(a)))
	}
}
