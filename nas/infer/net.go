package infer

import (
	"fmt"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// BNEps is the BatchNorm epsilon of every BN layer (PyTorch's default, as in
// the reference). The training graph must use the same value.
const BNEps = 1e-5

// mat is a row-major matrix view [rows, cols] with row stride ld >= cols:
// the leading block W[:rows, :cols] of a max-shape weight (ld = its max
// column count), or a contiguous copy (ld = cols).
type mat struct {
	w  []float32
	ld int
}

// bnParams is one BatchNorm layer: gamma and beta (leading slices of the
// supernet's max-shape vectors) or, in a folded net, only bias (the folded
// shift; the scale lives in the preceding weights).
type bnParams struct {
	name        string // e.g. "blocks.3.dw.bn", the supernet's parameter prefix
	gamma, beta []float32
	bias        []float32
	c           int // channels
	pix         int // pixels per image at the layer (H*W)
}

// block holds the weights of one active MBConv block.
type block struct {
	p                     space.BlockPlan
	expand, project, scut mat       // [cin, mid], [mid, cout], [cin, cout]
	dw                    []float32 // [dwKMax, dwKMax, dwCMax]
	dwKMax, dwCMax        int
	seReduce, seExpand    mat       // [mid, se], [se, mid]
	seReduceB, seExpandB  []float32 // [se], [mid]
	bnExpand              int       // BN layer index, -1 without expand conv
	bnDW, bnProject       int
}

// net is one subnet's forward pass: its plan and its weights. Built over a
// supernet it only holds views (viewNet); a folded net owns contiguous copies
// with BN folded in (foldNet). A net is read-only once built.
type net struct {
	plan       space.Plan
	inSize     int // S: the native input size (resized to plan.Resolution)
	act        kernels.Act
	folded     bool
	stem       mat // [k*k*cin, c0]
	blocks     []block
	headExpand mat       // [c, e]
	mix        mat       // [e, w]
	mixB       []float32 // [w]
	cls        mat       // [w, classes]
	clsB       []float32 // [classes]
	bn         []bnParams
}

// actOf maps the space's activation to the kernels' Act.
func actOf(a space.Activation) (kernels.Act, error) {
	switch a {
	case space.Swish:
		return kernels.ActSwish, nil
	case space.HSwish:
		return kernels.ActHSwish, nil
	case space.ReLU:
		return kernels.ActReLU, nil
	}
	return kernels.ActNone, fmt.Errorf("infer: unsupported activation %q", a)
}

// viewNet lays out arch over the supernet's max-shape tensors without
// copying: every weight is a leading-block view with the tensor's own
// column count as leading dimension (ALGORITHM.md section 4).
func viewNet(sn *supernet.Supernet, arch space.Arch) (*net, error) {
	sp := sn.Space
	if err := sp.Validate(arch); err != nil {
		return nil, err
	}
	act, err := actOf(sp.Activation)
	if err != nil {
		return nil, err
	}
	p := sp.Plan(arch)
	n := &net{plan: p, inSize: sp.Input.Height, act: act}
	view := func(prm *supernet.Param, rows, cols int) (mat, error) {
		if prm == nil {
			return mat{}, fmt.Errorf("infer: supernet lacks a tensor the subnet %v needs", arch)
		}
		if len(prm.Shape) != 2 || prm.Shape[0] < rows || prm.Shape[1] < cols {
			return mat{}, fmt.Errorf("infer: supernet tensor %s has shape %v, subnet %v needs [%d, %d]", prm.Name, prm.Shape, arch, rows, cols)
		}
		return mat{w: prm.W, ld: prm.Shape[1]}, nil
	}
	vec := func(prm *supernet.Param, c int) ([]float32, error) {
		if prm == nil || len(prm.W) < c {
			return nil, fmt.Errorf("infer: supernet vector too short for subnet %v", arch)
		}
		return prm.W[:c], nil
	}
	addBN := func(name string, cb supernet.ConvBN, c, size int) (int, error) {
		g, err := vec(cb.Gamma, c)
		if err != nil {
			return 0, err
		}
		b, err := vec(cb.Beta, c)
		if err != nil {
			return 0, err
		}
		n.bn = append(n.bn, bnParams{name: name, gamma: g, beta: b, c: c, pix: size * size})
		return len(n.bn) - 1, nil
	}
	st := p.Stem
	if n.stem, err = view(sn.Stem.W, st.K*st.K*st.Cin, st.Cout); err != nil {
		return nil, err
	}
	if _, err = addBN("stem.bn", sn.Stem, st.Cout, st.OutSize); err != nil {
		return nil, err
	}
	for _, bp := range p.Blocks {
		slot := sp.SlotIndex(bp.Stage, bp.Index)
		sb := &sn.Blocks[slot]
		pre := fmt.Sprintf("blocks.%d", slot)
		b := block{p: bp, bnExpand: -1}
		if bp.Expand {
			if sb.Expand == nil {
				return nil, fmt.Errorf("infer: supernet block %d has no expand conv", slot)
			}
			if b.expand, err = view(sb.Expand.W, bp.Cin, bp.Mid); err != nil {
				return nil, err
			}
			if b.bnExpand, err = addBN(pre+".expand.bn", *sb.Expand, bp.Mid, bp.InSize); err != nil {
				return nil, err
			}
		}
		dw := sb.DW.W
		if len(dw.Shape) != 3 || dw.Shape[0] < bp.K || dw.Shape[2] < bp.Mid || (dw.Shape[0]-bp.K)%2 != 0 {
			return nil, fmt.Errorf("infer: supernet tensor %s has shape %v, subnet needs k=%d mid=%d", dw.Name, dw.Shape, bp.K, bp.Mid)
		}
		b.dw, b.dwKMax, b.dwCMax = dw.W, dw.Shape[0], dw.Shape[2]
		if b.bnDW, err = addBN(pre+".dw.bn", supernet.ConvBN{Gamma: sb.DW.Gamma, Beta: sb.DW.Beta}, bp.Mid, bp.OutSize); err != nil {
			return nil, err
		}
		if bp.SE {
			if sb.SE == nil {
				return nil, fmt.Errorf("infer: supernet block %d has no squeeze-excite", slot)
			}
			if b.seReduce, err = view(sb.SE.ReduceW, bp.Mid, bp.SEMid); err != nil {
				return nil, err
			}
			if b.seExpand, err = view(sb.SE.ExpandW, bp.SEMid, bp.Mid); err != nil {
				return nil, err
			}
			if b.seReduceB, err = vec(sb.SE.ReduceB, bp.SEMid); err != nil {
				return nil, err
			}
			if b.seExpandB, err = vec(sb.SE.ExpandB, bp.Mid); err != nil {
				return nil, err
			}
		}
		if b.project, err = view(sb.Project.W, bp.Mid, bp.Cout); err != nil {
			return nil, err
		}
		if b.bnProject, err = addBN(pre+".project.bn", sb.Project, bp.Cout, bp.OutSize); err != nil {
			return nil, err
		}
		if bp.ShortcutConv {
			if b.scut, err = view(sb.Shortcut, bp.Cin, bp.Cout); err != nil {
				return nil, err
			}
		}
		n.blocks = append(n.blocks, b)
	}
	h := p.Head
	if n.headExpand, err = view(sn.Head.Expand.W, h.Cin, h.Expanded); err != nil {
		return nil, err
	}
	if _, err = addBN("head.expand.bn", sn.Head.Expand, h.Expanded, h.Size); err != nil {
		return nil, err
	}
	if n.mix, err = view(sn.Head.MixW, h.Expanded, h.Width); err != nil {
		return nil, err
	}
	if n.mixB, err = vec(sn.Head.MixB, h.Width); err != nil {
		return nil, err
	}
	if n.cls, err = view(sn.Head.ClassifierW, h.Width, h.Classes); err != nil {
		return nil, err
	}
	if n.clsB, err = vec(sn.Head.ClassifierB, h.Classes); err != nil {
		return nil, err
	}
	return n, nil
}

// foldNet returns a standalone copy of the view net v with BN layer i folded
// from stats: every weight is copied contiguously (ld = its column count),
// the convolution or depthwise weights feeding a BN are multiplied per
// output channel by scale = gamma/sqrt(var+eps), and the BN becomes the bias
// shift = beta - mean*scale (kernels.BNFold). The bias of project convs is
// added together with the shortcut (see runBlock).
func foldNet(v *net, stats *Stats) *net {
	n := &net{plan: v.plan, inSize: v.inSize, act: v.act, folded: true}
	scale := make([][]float32, len(v.bn))
	n.bn = make([]bnParams, len(v.bn))
	for i, b := range v.bn {
		scale[i] = make([]float32, b.c)
		shift := make([]float32, b.c)
		ls := stats.Layers[i]
		kernels.BNFold(scale[i], shift, b.gamma, b.beta, ls.Mean, ls.Var, BNEps)
		n.bn[i] = bnParams{name: b.name, bias: shift, c: b.c, pix: b.pix}
	}
	// copyMat copies the leading [rows, cols] block of m, multiplying column
	// j by colScale[j] when colScale is not nil.
	copyMat := func(m mat, rows, cols int, colScale []float32) mat {
		out := make([]float32, rows*cols)
		for r := 0; r < rows; r++ {
			src, dst := m.w[r*m.ld:r*m.ld+cols], out[r*cols:(r+1)*cols]
			for j, x := range src {
				if colScale != nil {
					x *= colScale[j]
				}
				dst[j] = x
			}
		}
		return mat{w: out, ld: cols}
	}
	p := v.plan
	st := p.Stem
	n.stem = copyMat(v.stem, st.K*st.K*st.Cin, st.Cout, scale[0])
	for _, vb := range v.blocks {
		bp := vb.p
		b := block{p: bp, bnExpand: vb.bnExpand, bnDW: vb.bnDW, bnProject: vb.bnProject}
		if bp.Expand {
			b.expand = copyMat(vb.expand, bp.Cin, bp.Mid, scale[vb.bnExpand])
		}
		// Depthwise: the centre k x k of [KMax, KMax, CMax], first mid channels.
		k, o := bp.K, (vb.dwKMax-bp.K)/2
		b.dw, b.dwKMax, b.dwCMax = make([]float32, k*k*bp.Mid), k, bp.Mid
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				src := vb.dw[((o+i)*vb.dwKMax+(o+j))*vb.dwCMax:][:bp.Mid]
				dst := b.dw[(i*k+j)*bp.Mid:][:bp.Mid]
				for c, x := range src {
					dst[c] = x * scale[vb.bnDW][c]
				}
			}
		}
		if bp.SE {
			b.seReduce = copyMat(vb.seReduce, bp.Mid, bp.SEMid, nil)
			b.seExpand = copyMat(vb.seExpand, bp.SEMid, bp.Mid, nil)
			b.seReduceB = append([]float32(nil), vb.seReduceB...)
			b.seExpandB = append([]float32(nil), vb.seExpandB...)
		}
		b.project = copyMat(vb.project, bp.Mid, bp.Cout, scale[vb.bnProject])
		if bp.ShortcutConv {
			b.scut = copyMat(vb.scut, bp.Cin, bp.Cout, nil)
		}
		n.blocks = append(n.blocks, b)
	}
	h := p.Head
	n.headExpand = copyMat(v.headExpand, h.Cin, h.Expanded, scale[len(scale)-1])
	n.mix = copyMat(v.mix, h.Expanded, h.Width, nil)
	n.mixB = append([]float32(nil), v.mixB...)
	n.cls = copyMat(v.cls, h.Width, h.Classes, nil)
	n.clsB = append([]float32(nil), v.clsB...)
	return n
}
