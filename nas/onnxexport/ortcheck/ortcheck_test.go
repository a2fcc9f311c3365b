package ortcheck

import "testing"

// TestCompare checks the comparison on hand-made logits of 3 images of 3
// classes.
func TestCompare(t *testing.T) {
	a := []float32{1, 2, 3, 5, 4, 0, 7, 7, 1}
	b := []float32{1, 2, 3.5, 5, 4.25, 0, 6, 7, 1}
	// Image 0: argmax 2 and 2; image 1: 0 and 0; image 2: 0 (the first of
	// the tie) and 1. Largest difference: 7 vs 6.
	c := Compare(a, b, 3)
	if c.Images != 3 || c.Agree != 2 || c.MaxAbsDiff != 1 {
		t.Fatalf("Compare: %+v", c)
	}
}
