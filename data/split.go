package data

import (
	"fmt"
	"math/rand/v2"
)

// Split names the part of a dataset an example belongs to.
type Split string

// The splits. The train side of a dataset is divided into SplitTrain,
// SplitCalib and SplitVal by a [Splitter]; the dataset's own test set is
// SplitTest.
const (
	SplitTrain Split = "train" // trains the supernet
	SplitCalib Split = "calib" // recalibrates BatchNorm statistics of a subnet (ALGORITHM.md section 7)
	SplitVal   Split = "val"   // held-out evaluation of subnets during search
	SplitTest  Split = "test"  // the dataset's test set, for final reporting
)

// Splitter assigns each index of a train-side source to a split.
type Splitter struct {
	held  map[int]Split // the val and calib indices; every other index is train
	total int
}

// NewSplitter returns a Splitter for a train-side source of total examples
// that puts exactly valN of them in SplitVal, exactly calibN in SplitCalib
// and the rest in SplitTrain. There is no stratification.
//
// The assignment depends only on (total, valN, calibN, seed): a partial
// Fisher-Yates shuffle of 0..total-1 that swaps position i with
// i + u % (total-i), u the next Uint64 of a PCG (math/rand/v2.NewPCG(seed, 0)),
// for i < valN+calibN; the first valN positions are val, the next calibN calib.
// Only the PCG algorithm is relied on, so the split survives changes to
// math/rand's helper methods. It fails if a count is negative or
// valN+calibN > total.
func NewSplitter(total, valN, calibN int, seed int64) (*Splitter, error) {
	if total < 0 || valN < 0 || calibN < 0 || valN+calibN > total {
		return nil, fmt.Errorf("data: NewSplitter: cannot hold out %d val and %d calib examples of %d", valN, calibN, total)
	}
	pcg := rand.NewPCG(uint64(seed), 0)
	perm := make([]int, total)
	for i := range perm {
		perm[i] = i
	}
	s := &Splitter{held: make(map[int]Split, valN+calibN), total: total}
	for i := range valN + calibN {
		j := i + int(pcg.Uint64()%uint64(total-i))
		perm[i], perm[j] = perm[j], perm[i]
		s.held[perm[i]] = SplitCalib
		if i < valN {
			s.held[perm[i]] = SplitVal
		}
	}
	return s, nil
}

// Split returns the split of index, which must be in [0, total); it panics
// otherwise.
func (s *Splitter) Split(index int) Split {
	if index < 0 || index >= s.total {
		panic(fmt.Sprintf("data: Splitter.Split: index %d outside [0,%d)", index, s.total))
	}
	if split, ok := s.held[index]; ok {
		return split
	}
	return SplitTrain
}
