package data

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Sentinels wrapped by [FormatError] (test with errors.Is).
var (
	// ErrTruncated: the input ends in the middle of a header or record. It
	// wraps io.ErrUnexpectedEOF, so errors.Is(err, io.ErrUnexpectedEOF) holds too.
	ErrTruncated = fmt.Errorf("truncated: %w", io.ErrUnexpectedEOF)
	// ErrTrailing: bytes follow the last record.
	ErrTrailing = errors.New("data after the last record")
	// ErrMagic: the file does not start with the expected magic number.
	ErrMagic = errors.New("bad magic number")
	// ErrEmpty: the file holds no records.
	ErrEmpty = errors.New("no records")
	// ErrShape: a dimension is zero.
	ErrShape = errors.New("bad dimensions")
	// ErrTooLarge: the dimensions ask for more than MaxDatasetBytes.
	ErrTooLarge = errors.New("too large")
	// ErrMismatch: counts or sizes that must agree do not (images and
	// labels, an image and the dataset's size).
	ErrMismatch = errors.New("mismatch")
	// ErrLabel: a label is not below the number of classes.
	ErrLabel = errors.New("out of range")
	// ErrNotImage: a file of an image tree is not a PNG or JPEG image.
	ErrNotImage = errors.New("not a PNG or JPEG image")
)

// MaxDatasetBytes bounds the pixel bytes one decoder call may return (1 GiB:
// Fashion-MNIST's train file holds 47 MB, a CIFAR-10 batch 31 MB), so a
// corrupt header cannot make a worker allocate gigabytes.
const MaxDatasetBytes = 1 << 30

// FormatError reports that an input is not a valid file of the format being
// decoded. Its message reads
//
//	data: train-labels-idx1-ubyte.gz: label at record 12: 57 out of range [0,10)
//
// See also [UnsupportedError], modelled on image/png's FormatError and
// encoding/csv's ParseError.
type FormatError struct {
	File   string // name passed to the decoder
	Record int    // index of the record (image) at fault, from 0; -1 if the error is not about one record
	Field  string // part at fault: "magic", "dimensions", "count", "label", "pixels", "end", "record", "image", "size", ...
	Err    error  // what is wrong; wraps a sentinel such as ErrTruncated, or a gzip, PNG or JPEG error
}

// Error formats e as "data: file: field at record N: err".
func (e *FormatError) Error() string { return message(e.File, e.Record, e.Field, e.Err) }

// Unwrap returns e.Err.
func (e *FormatError) Unwrap() error { return e.Err }

// UnsupportedError reports a valid input that this package does not handle,
// such as an IDX file of float32 values or an arithmetic-coded JPEG. See also
// [FormatError].
type UnsupportedError struct {
	File  string // name passed to the decoder
	Field string // part at fault, as in FormatError
	Err   error  // what is not handled
}

// Error formats e as "data: file: field: err".
func (e *UnsupportedError) Error() string { return message(e.File, -1, e.Field, e.Err) }

// Unwrap returns e.Err.
func (e *UnsupportedError) Unwrap() error { return e.Err }

func message(file string, record int, field string, err error) string {
	var b strings.Builder
	b.WriteString("data: ")
	if file != "" {
		b.WriteString(file + ": ")
	}
	b.WriteString(field)
	if record >= 0 {
		fmt.Fprintf(&b, " at record %d", record)
	}
	b.WriteString(": " + err.Error())
	return b.String()
}

// readError turns an error met while reading field of file into the error a
// decoder returns: an error of the reader itself is wrapped as it is, an
// early EOF is ErrTruncated, and anything else (such as a corrupt gzip
// stream) is a FormatError.
func readError(file string, record int, field string, err error) error {
	var re readerError
	switch {
	case errors.As(err, &re):
		return fmt.Errorf("data: %s: reading %s: %w", file, field, re.err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &FormatError{file, record, field, ErrTruncated}
	}
	return &FormatError{file, record, field, err}
}

// source wraps the reader given to a decoder so that readError can tell its
// errors from errors in the data, through gzip, zlib, PNG and JPEG decoders.
type source struct{ r io.Reader }

func (s source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = readerError{err}
	}
	return n, err
}

// readerError is an error returned by the reader given to a decoder.
type readerError struct{ err error }

func (e readerError) Error() string { return e.err.Error() }
func (e readerError) Unwrap() error { return e.err }
