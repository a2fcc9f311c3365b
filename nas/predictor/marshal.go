package predictor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// The serialised form, version 1. All integers are little-endian; floats are
// IEEE-754 float64 bit patterns, so a model round-trips exactly.
//
//	offset  size  field
//	0       4     magic "NASP"
//	4       2     version (1)
//	6       1     kind: 1 random_forest, 2 gbt, 3 ridge
//	7       1     reserved, 0
//	8       4     features: the model's NumFeatures, 1..65536
//	12      4     L: payload length
//	16      L     payload (below)
//	16+L    4     CRC-32 (IEEE) of bytes [0, 16+L)
//
// Tree payloads (random_forest; gbt prefixes the float64 base value):
//
//	uint32 trees, >= 1
//	per tree: uint32 nodes, >= 1, then each node in pre-order:
//	  int32 feature: -1 for a leaf, else < features
//	  leaf:     float64 value
//	  internal: float64 threshold, uint32 right (tree-local, i+1 < right < nodes)
//
// Ridge payload:
//
//	float64 lambda, float64 intercept
//	per feature: uint8 type (0 linear, 1 one-hot)
//	  linear:  float64 coef
//	  one-hot: uint32 levels >= 1, levels x float64 (increasing), levels x float64 weights
//
// Every float must be finite. The encoding is canonical: Unmarshal accepts
// exactly the bytes Marshal produces for some model.
const (
	magic         = "NASP"
	formatVersion = 1
	headerLen     = 16
	maxFeatures   = 1 << 16

	kindCodeForest = 1
	kindCodeGBT    = 2
	kindCodeRidge  = 3

	leafLen     = 4 + 8     // smallest node
	internalLen = 4 + 8 + 4 // largest node
)

// ErrChecksum is wrapped by the FormatError of bytes whose CRC-32 does not
// match, typically a truncated or corrupted Parquet value.
var ErrChecksum = errors.New("predictor: checksum mismatch")

// FormatError reports bytes that are not a serialised model. It wraps
// io.ErrUnexpectedEOF when the input ends early and ErrChecksum when the
// CRC-32 does not match; test with errors.Is.
type FormatError struct {
	Offset int    // byte offset of the bad field
	Field  string // e.g. "tree[3].node[17].right"
	Msg    string
	Err    error // wrapped sentinel, or nil
}

// Error formats the offset, the field and the problem, e.g. "predictor:
// invalid model at byte 36 (tree[0].node[0].right): 3, expected a node in (1,3)".
func (e *FormatError) Error() string {
	s := fmt.Sprintf("predictor: invalid model at byte %d", e.Offset)
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	s += ": " + e.Msg
	if e.Err != nil && e.Err != ErrChecksum {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel (io.ErrUnexpectedEOF, ErrChecksum) or nil.
func (e *FormatError) Unwrap() error { return e.Err }

// UnsupportedError reports a well-formed model this version cannot read: a
// newer format version or an unknown model kind.
type UnsupportedError string

// Error returns "predictor: unsupported model: " and the reason.
func (e UnsupportedError) Error() string { return "predictor: unsupported model: " + string(e) }

// Marshal serialises a model fitted by this package (a *Forest, *GBT or
// *Ridge) into the versioned binary form above, for a Parquet BYTE_ARRAY
// column. Unmarshal(Marshal(m)) predicts bit-for-bit what m predicts, and
// fitting twice from the same seed gives the same bytes.
//
// Sizes: a forest costs 12 bytes per leaf and 16 per internal node; on
// 1,000 pairs the reference's 100 depth-15 trees hold about 126,000 nodes,
// 1.8 MB; the default GBT takes 58 KB and ridge under 1 KB.
func Marshal(m Model) ([]byte, error) {
	var code byte
	var nf int
	var payload []byte
	switch m := m.(type) {
	case *Forest:
		if m == nil {
			break
		}
		code, nf = kindCodeForest, m.nf
		payload = appendTrees(nil, m.roots, m.nodes)
	case *GBT:
		if m == nil {
			break
		}
		code, nf = kindCodeGBT, m.nf
		payload = binary.LittleEndian.AppendUint64(nil, math.Float64bits(m.base))
		payload = appendTrees(payload, m.roots, m.nodes)
	case *Ridge:
		if m == nil {
			break
		}
		code, nf = kindCodeRidge, len(m.feats)
		payload = appendRidge(nil, m)
	}
	if code == 0 {
		return nil, fmt.Errorf("predictor: Marshal: cannot serialise a %T", m)
	}
	if nf < 1 || nf > maxFeatures || len(payload) > math.MaxUint32-headerLen-4 {
		return nil, fmt.Errorf("predictor: Marshal: %d features and %d payload bytes are out of range", nf, len(payload))
	}
	out := make([]byte, 0, headerLen+len(payload)+4)
	out = append(out, magic...)
	out = binary.LittleEndian.AppendUint16(out, formatVersion)
	out = append(out, code, 0)
	out = binary.LittleEndian.AppendUint32(out, uint32(nf))
	out = binary.LittleEndian.AppendUint32(out, uint32(len(payload)))
	out = append(out, payload...)
	return binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(out)), nil
}

func appendTrees(b []byte, roots []int32, nodes []node) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, uint32(len(roots)))
	for t, r := range roots {
		end := int32(len(nodes))
		if t+1 < len(roots) {
			end = roots[t+1]
		}
		b = le.AppendUint32(b, uint32(end-r))
		for _, n := range nodes[r:end] {
			b = le.AppendUint32(b, uint32(n.feature))
			b = le.AppendUint64(b, math.Float64bits(n.value))
			if n.feature >= 0 {
				b = le.AppendUint32(b, uint32(n.right-r))
			}
		}
	}
	return b
}

func appendRidge(b []byte, r *Ridge) []byte {
	le := binary.LittleEndian
	b = le.AppendUint64(b, math.Float64bits(r.lambda))
	b = le.AppendUint64(b, math.Float64bits(r.intercept))
	for _, f := range r.feats {
		if f.levels == nil {
			b = append(b, 0)
			b = le.AppendUint64(b, math.Float64bits(f.coef))
			continue
		}
		b = append(b, 1)
		b = le.AppendUint32(b, uint32(len(f.levels)))
		for _, l := range f.levels {
			b = le.AppendUint64(b, math.Float64bits(l))
		}
		for _, w := range f.weights {
			b = le.AppendUint64(b, math.Float64bits(w))
		}
	}
	return b
}

// Unmarshal decodes bytes written by Marshal. It checks the magic, version,
// lengths (before allocating anything they size), the CRC-32, and every
// index: tree children lie after their parent and inside their tree, split
// features are < the model's feature count, floats are finite. Bad input
// yields a *FormatError or an UnsupportedError and a nil Model, never a
// panic and never a model that could index out of range.
//
// See also Marshal.
func Unmarshal(data []byte) (Model, error) {
	d := &decoder{data: data}
	m, err := d.decode()
	if err != nil {
		return nil, err
	}
	return m, nil
}

// decoder reads one serialised model; off is the read position and err the
// first error, after which every read returns zero. tree, node and feat
// locate the field being read (-1: not inside one) for error messages, so
// that no field name is built unless decoding fails.
type decoder struct {
	data             []byte
	off              int
	end              int // end of the payload
	nf               int
	tree, node, feat int
	err              error
}

func (d *decoder) decode() (Model, error) {
	d.tree, d.node, d.feat = -1, -1, -1
	code := d.parseHeader()
	var m Model
	switch code {
	case kindCodeForest:
		m = d.parseForest()
	case kindCodeGBT:
		m = d.parseGBT()
	case kindCodeRidge:
		m = d.parseRidge()
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.off != d.end {
		return nil, d.fail("payload", fmt.Sprintf("%d bytes left over", d.end-d.off), nil)
	}
	return m, nil
}

// fail records the first error, at offset d.off, and returns it.
func (d *decoder) fail(field, msg string, sentinel error) error {
	if d.err != nil {
		return d.err
	}
	switch {
	case d.node >= 0:
		field = fmt.Sprintf("tree[%d].node[%d].%s", d.tree, d.node, field)
	case d.tree >= 0:
		field = fmt.Sprintf("tree[%d].%s", d.tree, field)
	case d.feat >= 0:
		field = fmt.Sprintf("feature[%d].%s", d.feat, field)
	}
	d.err = &FormatError{Offset: d.off, Field: field, Msg: msg, Err: sentinel}
	return d.err
}

// parseHeader checks the fixed header, the length and the checksum, and
// returns the kind code.
func (d *decoder) parseHeader() byte {
	le := binary.LittleEndian
	if len(d.data) < headerLen {
		d.fail("header", fmt.Sprintf("%d bytes, the header alone is %d", len(d.data), headerLen), io.ErrUnexpectedEOF)
		return 0
	}
	if string(d.data[:4]) != magic {
		d.fail("magic", fmt.Sprintf("%q, expected %q", d.data[:4], magic), nil)
		return 0
	}
	if v := le.Uint16(d.data[4:]); v != formatVersion {
		d.err = UnsupportedError(fmt.Sprintf("format version %d (this build reads version %d)", v, formatVersion))
		return 0
	}
	code := d.data[6]
	if code < kindCodeForest || code > kindCodeRidge {
		d.err = UnsupportedError(fmt.Sprintf("model kind code %d (expected 1 %s, 2 %s, 3 %s)", code, KindForest, KindGBT, KindRidge))
		return 0
	}
	d.off = 7
	if d.data[7] != 0 {
		d.fail("reserved", fmt.Sprintf("%d, expected 0", d.data[7]), nil)
		return 0
	}
	d.off = 8
	nf := le.Uint32(d.data[8:])
	if nf < 1 || nf > maxFeatures {
		d.fail("features", fmt.Sprintf("%d, expected 1..%d", nf, maxFeatures), nil)
		return 0
	}
	d.nf = int(nf)
	d.off = 12
	L := uint64(le.Uint32(d.data[12:]))
	if have := uint64(len(d.data)); have < headerLen+L+4 {
		d.fail("payload length", fmt.Sprintf("%d payload bytes + checksum, only %d bytes follow the header", L, have-headerLen), io.ErrUnexpectedEOF)
		return 0
	} else if have > headerLen+L+4 {
		d.fail("payload length", fmt.Sprintf("%d bytes of trailing data", have-headerLen-L-4), nil)
		return 0
	}
	d.end = headerLen + int(L)
	if got, want := crc32.ChecksumIEEE(d.data[:d.end]), le.Uint32(d.data[d.end:]); got != want {
		d.off = d.end
		d.fail("checksum", fmt.Sprintf("CRC-32 %08x, stored %08x", got, want), ErrChecksum)
		return 0
	}
	d.off = headerLen
	return code
}

// need reports whether n more payload bytes are available, failing with
// io.ErrUnexpectedEOF when not.
func (d *decoder) need(field string, n uint64) bool {
	if d.err != nil {
		return false
	}
	if uint64(d.end-d.off) < n {
		d.fail(field, fmt.Sprintf("needs %d bytes, %d left in the payload", n, d.end-d.off), io.ErrUnexpectedEOF)
		return false
	}
	return true
}

func (d *decoder) u8(field string) byte {
	if !d.need(field, 1) {
		return 0
	}
	d.off++
	return d.data[d.off-1]
}

func (d *decoder) u32(field string) uint32 {
	if !d.need(field, 4) {
		return 0
	}
	d.off += 4
	return binary.LittleEndian.Uint32(d.data[d.off-4:])
}

// f64 reads a float64 and requires it to be finite.
func (d *decoder) f64(field string) float64 {
	if !d.need(field, 8) {
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.data[d.off:]))
	if notFinite(v) {
		d.fail(field, fmt.Sprintf("%v, expected a finite value", v), nil)
		return 0
	}
	d.off += 8
	return v
}

// parseTrees reads the tree list shared by forests and GBTs.
func (d *decoder) parseTrees() (roots []int32, nodes []node) {
	nt := d.u32("trees")
	if d.err != nil {
		return nil, nil
	}
	if nt < 1 {
		d.fail("trees", "0, expected at least one tree", nil)
		return nil, nil
	}
	if !d.need("trees", uint64(nt)*(4+leafLen)) { // every tree holds at least one leaf
		return nil, nil
	}
	roots = make([]int32, nt)
	for t := range roots {
		d.tree, d.node = t, -1
		nn := d.u32("nodes")
		if d.err != nil {
			return nil, nil
		}
		if nn < 1 {
			d.fail("nodes", "0, expected at least one node", nil)
			return nil, nil
		}
		if !d.need("nodes", uint64(nn)*leafLen) {
			return nil, nil
		}
		off := int32(len(nodes)) // fits: each node takes >= 12 of at most 4 GiB bytes
		roots[t] = off
		nodes = slices.Grow(nodes, int(nn))
		for i := range nn {
			d.node = int(i)
			start := d.off
			n := node{feature: int32(d.u32("feature"))}
			n.value = d.f64("value")
			if d.err != nil {
				return nil, nil
			}
			if n.feature != -1 {
				if n.feature < 0 || int(n.feature) >= d.nf {
					d.off = start
					d.fail("feature", fmt.Sprintf("%d, expected -1 (leaf) or a feature in [0,%d)", n.feature, d.nf), nil)
					return nil, nil
				}
				r := d.u32("right")
				if d.err != nil {
					return nil, nil
				}
				if r <= i+1 || r >= nn {
					d.off -= 4
					d.fail("right", fmt.Sprintf("%d, expected a node in (%d,%d)", r, i+1, nn), nil)
					return nil, nil
				}
				n.right = off + int32(r)
			}
			nodes = append(nodes, n)
		}
	}
	d.tree, d.node = -1, -1
	return roots, nodes
}

func (d *decoder) parseForest() *Forest {
	roots, nodes := d.parseTrees()
	if d.err != nil {
		return nil
	}
	return &Forest{nf: d.nf, roots: roots, nodes: nodes}
}

func (d *decoder) parseGBT() *GBT {
	base := d.f64("base")
	roots, nodes := d.parseTrees()
	if d.err != nil {
		return nil
	}
	return &GBT{nf: d.nf, base: base, roots: roots, nodes: nodes}
}

func (d *decoder) parseRidge() *Ridge {
	r := &Ridge{}
	r.lambda = d.f64("lambda")
	if d.err == nil && r.lambda < 0 {
		d.off -= 8
		d.fail("lambda", fmt.Sprintf("%v, expected >= 0", r.lambda), nil)
	}
	r.intercept = d.f64("intercept")
	if !d.need("features", uint64(d.nf)*9) { // each feature takes at least 1 + 8 bytes
		return nil
	}
	r.feats = make([]ridgeFeature, d.nf)
	for j := range r.feats {
		d.feat = j
		f := &r.feats[j]
		switch t := d.u8("type"); {
		case d.err != nil:
			return nil
		case t == 0:
			f.coef = d.f64("coef")
		case t == 1:
			nl := d.u32("levels")
			if d.err != nil {
				return nil
			}
			if nl < 1 {
				d.off -= 4
				d.fail("levels", "0, expected at least one level", nil)
				return nil
			}
			if !d.need("levels", uint64(nl)*16) {
				return nil
			}
			f.levels = make([]float64, nl)
			f.weights = make([]float64, nl)
			for i := range f.levels {
				f.levels[i] = d.f64("level")
				if d.err == nil && i > 0 && !(f.levels[i] > f.levels[i-1]) {
					d.off -= 8
					d.fail("level", fmt.Sprintf("%v after %v, expected increasing levels", f.levels[i], f.levels[i-1]), nil)
				}
			}
			for i := range f.weights {
				f.weights[i] = d.f64("weight")
			}
		default:
			d.off--
			d.fail("type", fmt.Sprintf("%d, expected 0 (linear) or 1 (one-hot)", t), nil)
			return nil
		}
	}
	d.feat = -1
	if d.err != nil {
		return nil
	}
	return r
}
