package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// CIFAR-10 binary layout (https://www.cs.toronto.edu/~kriz/cifar.html): each
// record is a label byte and three 32x32 planes, R then G then B, row-major.
const (
	cifarSide    = 32
	cifarImage   = 3 * cifarSide * cifarSide // 3072 pixel bytes
	cifarRecord  = 1 + cifarImage            // 3073 bytes
	cifarClasses = 10
)

// DecodeCIFAR10 decodes a CIFAR-10 binary batch (data_batch_1.bin to
// data_batch_5.bin, test_batch.bin), raw or gzip-compressed. name is used in
// errors.
//
// The result is 32x32x3 with 10 classes, its pixels converted from the
// file's planar CHW order to HWC. Errors are [*FormatError]: an empty file, a
// size that is not a multiple of 3073 bytes (ErrTruncated), a label of 10 or
// more, a corrupt gzip stream, or more than MaxDatasetBytes of pixels.
//
// See also [EncodeCIFAR10], [DecodeIDX].
func DecodeCIFAR10(r io.Reader, name string) (*Dataset, error) {
	zr, err := gunzip(r, name)
	if err != nil {
		return nil, err
	}
	d := &cifarDecoder{r: zr, name: name}
	for {
		ok, err := d.parseRecord()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
	}
	if len(d.labels) == 0 {
		return nil, &FormatError{name, -1, "record", ErrEmpty}
	}
	if err := checkLabels(name, d.labels, cifarClasses); err != nil {
		return nil, err
	}
	return &Dataset{Height: cifarSide, Width: cifarSide, Channels: 3, Classes: cifarClasses, Pixels: d.pixels, Labels: d.labels}, nil
}

// cifarDecoder reads one CIFAR-10 batch.
type cifarDecoder struct {
	r      io.Reader
	name   string
	record [cifarRecord]byte
	pixels []byte
	labels []byte
}

// parseRecord reads the next record, or returns false at the end of the input.
func (d *cifarDecoder) parseRecord() (bool, error) {
	i := len(d.labels)
	if _, err := io.ReadFull(d.r, d.record[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, readError(d.name, i, "record", err)
	}
	if (i+1)*cifarImage > MaxDatasetBytes {
		err := fmt.Errorf("%w: more than %d records", ErrTooLarge, i)
		return false, &FormatError{d.name, i, "record", err}
	}
	d.labels = append(d.labels, d.record[0])
	planes := d.record[1:]
	for p := range cifarSide * cifarSide {
		d.pixels = append(d.pixels, planes[p], planes[p+cifarSide*cifarSide], planes[p+2*cifarSide*cifarSide])
	}
	return true, nil
}

// EncodeCIFAR10 writes d in the CIFAR-10 binary format: the inverse of
// [DecodeCIFAR10]. d must be 32x32x3 with labels below 10.
//
// See also [EncodeIDX].
func EncodeCIFAR10(w io.Writer, d *Dataset) error {
	if err := d.check(); err != nil {
		return err
	}
	if d.Height != cifarSide || d.Width != cifarSide || d.Channels != 3 {
		return fmt.Errorf("data: EncodeCIFAR10: images are %dx%dx%d, want 32x32x3", d.Height, d.Width, d.Channels)
	}
	if err := checkLabels("dataset", d.Labels, cifarClasses); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	var record [cifarRecord]byte
	for i, label := range d.Labels {
		record[0] = label
		for p, px := range d.Image(i) {
			record[1+p%3*cifarSide*cifarSide+p/3] = px
		}
		if _, err := bw.Write(record[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}
