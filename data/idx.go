package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// IDX magic numbers: two zero bytes, a type byte (0x08 = unsigned byte) and
// the number of dimensions, big-endian (http://yann.lecun.com/exdb/mnist/).
const (
	idxImagesMagic = 0x00000803 // unsigned bytes, 3 dimensions: N, H, W
	idxLabelsMagic = 0x00000801 // unsigned bytes, 1 dimension: N
)

// idxTypes names the IDX element types; only 0x08 is decoded.
var idxTypes = map[byte]string{0x08: "uint8", 0x09: "int8", 0x0b: "int16", 0x0c: "int32", 0x0d: "float32", 0x0e: "float64"}

// DecodeIDX decodes an MNIST-style pair of IDX files: images (magic
// 0x00000803, dimensions N, H, W) and labels (magic 0x00000801, dimension N).
// Each may be gzip-compressed, which is detected from its first bytes.
// imagesName and labelsName are used in errors; classes (1 to 256, 10 for
// MNIST and Fashion-MNIST) bounds the labels.
//
// The result has Channels 1 and Classes classes. Errors are [*FormatError]
// (bad magic, zero or oversized dimensions, count mismatch, truncation,
// trailing data, corrupt gzip, label out of range) or [*UnsupportedError]
// (an IDX element type other than unsigned byte).
//
// See also [EncodeIDX], [DecodeCIFAR10].
func DecodeIDX(images, labels io.Reader, imagesName, labelsName string, classes int) (*Dataset, error) {
	if classes < 1 || classes > 256 {
		return nil, fmt.Errorf("data: DecodeIDX: %d classes, want 1 to 256", classes)
	}
	im, err := newIDXDecoder(images, imagesName)
	if err != nil {
		return nil, err
	}
	dims, err := im.parseHeader(idxImagesMagic)
	if err != nil {
		return nil, err
	}
	lb, err := newIDXDecoder(labels, labelsName)
	if err != nil {
		return nil, err
	}
	labelDims, err := lb.parseHeader(idxLabelsMagic)
	if err != nil {
		return nil, err
	}
	n, h, w := dims[0], dims[1], dims[2]
	if labelDims[0] != n {
		err := fmt.Errorf("%w: %d labels for %d images in %s", ErrMismatch, labelDims[0], n, imagesName)
		return nil, &FormatError{labelsName, -1, "count", err}
	}
	// Labels first: a bad label file fails before the large image file is read.
	ls, err := lb.parseBody(n, 1, "label")
	if err != nil {
		return nil, err
	}
	if err := checkLabels(labelsName, ls, classes); err != nil {
		return nil, err
	}
	pixels, err := im.parseBody(n, h*w, "pixels")
	if err != nil {
		return nil, err
	}
	return &Dataset{Height: h, Width: w, Channels: 1, Classes: classes, Pixels: pixels, Labels: ls}, nil
}

// idxDecoder reads one IDX file.
type idxDecoder struct {
	r    io.Reader
	name string
}

func newIDXDecoder(r io.Reader, name string) (*idxDecoder, error) {
	r, err := gunzip(r, name)
	if err != nil {
		return nil, err
	}
	return &idxDecoder{r, name}, nil
}

// parseHeader reads the magic number, which must be magic, and the
// dimensions, which must be non-zero with a product of at most MaxDatasetBytes.
func (d *idxDecoder) parseHeader(magic uint32) ([]int, error) {
	var b [4]byte
	if _, err := io.ReadFull(d.r, b[:]); err != nil {
		return nil, readError(d.name, -1, "magic", err)
	}
	got := binary.BigEndian.Uint32(b[:])
	if typ, ok := idxTypes[b[2]]; ok && b[0] == 0 && b[1] == 0 && b[2] != byte(magic>>8) {
		err := fmt.Errorf("element type 0x%02x (%s), only 0x08 (uint8) is decoded: %w", b[2], typ, errors.ErrUnsupported)
		return nil, &UnsupportedError{d.name, "magic", err}
	}
	if got != magic {
		err := fmt.Errorf("%w 0x%08x, want 0x%08x (uint8, %d dimensions)", ErrMagic, got, magic, byte(magic))
		return nil, &FormatError{d.name, -1, "magic", err}
	}
	dims := make([]int, byte(magic))
	product := uint64(1)
	for i := range dims {
		if _, err := io.ReadFull(d.r, b[:]); err != nil {
			return nil, readError(d.name, -1, "dimensions", err)
		}
		dim := binary.BigEndian.Uint32(b[:])
		product *= uint64(dim) // at most 2^30 * 2^32: no overflow
		switch {
		case dim == 0 && i == 0:
			return nil, &FormatError{d.name, -1, "dimensions", ErrEmpty}
		case dim == 0:
			return nil, &FormatError{d.name, -1, "dimensions", fmt.Errorf("%w: dimension %d is 0", ErrShape, i)}
		case product > MaxDatasetBytes:
			err := fmt.Errorf("%w: dimension %d is %d, the product exceeds %d bytes", ErrTooLarge, i, dim, MaxDatasetBytes)
			return nil, &FormatError{d.name, -1, "dimensions", err}
		}
		dims[i] = int(dim)
	}
	return dims, nil
}

// parseBody reads n records of size bytes and checks that nothing follows.
func (d *idxDecoder) parseBody(n, size int, field string) ([]byte, error) {
	body, err := readN(d.r, n*size)
	if err != nil {
		return nil, readError(d.name, len(body)/size, field, err)
	}
	if err := checkEnd(d.r, d.name); err != nil {
		return nil, err
	}
	return body, nil
}

// EncodeIDX writes d as an uncompressed IDX image file to images and an IDX
// label file to labels: the inverse of [DecodeIDX]. d must have one channel;
// wrap a writer in gzip.NewWriter for .gz files.
//
// See also [EncodeCIFAR10].
func EncodeIDX(images, labels io.Writer, d *Dataset) error {
	if err := d.check(); err != nil {
		return err
	}
	if d.Channels != 1 {
		return fmt.Errorf("data: EncodeIDX: %d channels, IDX images have 1", d.Channels)
	}
	n := uint32(d.Len())
	header := binary.BigEndian.AppendUint32(nil, idxImagesMagic)
	for _, v := range []uint32{n, uint32(d.Height), uint32(d.Width)} {
		header = binary.BigEndian.AppendUint32(header, v)
	}
	labelHeader := binary.BigEndian.AppendUint32(nil, idxLabelsMagic)
	labelHeader = binary.BigEndian.AppendUint32(labelHeader, n)
	for _, part := range []struct {
		w io.Writer
		b []byte
	}{{images, header}, {images, d.Pixels}, {labels, labelHeader}, {labels, d.Labels}} {
		if _, err := part.w.Write(part.b); err != nil {
			return err
		}
	}
	return nil
}
