package data

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// Dataset is a decoded image classification dataset held in memory.
//
// See also [DecodeIDX], [DecodeCIFAR10], [EncodeIDX], [EncodeCIFAR10].
type Dataset struct {
	Height, Width, Channels int     // size of every image
	Classes                 int     // labels are in [0, Classes)
	Pixels                  []byte  // Len()*Height*Width*Channels bytes: images back to back, each in HWC order
	Labels                  []uint8 // one per image
}

// Len returns the number of images.
func (d *Dataset) Len() int { return len(d.Labels) }

// Image returns the pixels of image i (HWC order), a slice of d.Pixels.
// It panics if i is not in [0, Len()).
func (d *Dataset) Image(i int) []byte {
	size := d.Height * d.Width * d.Channels
	return d.Pixels[i*size : (i+1)*size : (i+1)*size]
}

// check reports whether d is a non-empty consistent dataset, for the encoders.
func (d *Dataset) check() error {
	size := d.Height * d.Width * d.Channels
	switch {
	case d.Height < 1 || d.Width < 1 || d.Channels < 1 || d.Len() == 0:
		return fmt.Errorf("data: dataset of %d images of %dx%dx%d", d.Len(), d.Height, d.Width, d.Channels)
	case len(d.Pixels) != len(d.Labels)*size:
		return fmt.Errorf("data: dataset has %d pixel bytes for %d images of %dx%dx%d", len(d.Pixels), len(d.Labels), d.Height, d.Width, d.Channels)
	}
	return checkLabels("dataset", d.Labels, d.Classes)
}

// checkLabels checks that every label of file is below classes.
func checkLabels(file string, labels []uint8, classes int) error {
	for i, l := range labels {
		if int(l) >= classes {
			return &FormatError{file, i, "label", fmt.Errorf("%d %w [0,%d)", l, ErrLabel, classes)}
		}
	}
	return nil
}

// gunzip returns r, decompressed if it starts with the gzip magic 1f 8b.
func gunzip(r io.Reader, name string) (io.Reader, error) {
	br := bufio.NewReader(source{r})
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, readError(name, -1, "magic", err)
	}
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, readError(name, -1, "gzip header", err)
	}
	return zr, nil
}

// readN reads exactly n > 0 bytes. The buffer grows as data arrives, so a
// header that promises more than the input holds costs no more memory than
// the input. On error it returns the bytes read so far.
func readN(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, min(n, 64<<10))
	for read := 0; ; {
		m, err := io.ReadFull(r, buf[read:])
		read += m
		if err != nil {
			return buf[:read], err
		}
		if read == n {
			return buf, nil
		}
		buf = append(buf, make([]byte, min(n-read, read))...)
	}
}

// checkEnd verifies that r is at its end; for gzip input, reaching the end
// also verifies the checksum. Data after the last record of a gzip stream
// is first read to its end: when the stream itself is corrupt (a damaged
// byte can make it decompress to more data than it held), that is the
// error, not the trailing data.
func checkEnd(r io.Reader, name string) error {
	var b [1]byte
	n, err := io.ReadFull(r, b[:])
	switch {
	case n > 0:
		if zr, ok := r.(*gzip.Reader); ok {
			if _, derr := io.Copy(io.Discard, zr); derr != nil {
				return readError(name, -1, "gzip stream (corrupt: it does not decompress to what it checksums)", derr)
			}
		}
		return &FormatError{name, -1, "end", ErrTrailing}
	case errors.Is(err, io.EOF):
		return nil
	}
	return readError(name, -1, "end", err)
}
