package data

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// errDisk stands for an I/O error of the reader a decoder is given.
var errDisk = errors.New("disk on fire")

// failReader fails every read.
type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errDisk }

// failAfter returns a reader that yields prefix, then fails.
func failAfter(prefix []byte) io.Reader { return io.MultiReader(bytes.NewReader(prefix), failReader{}) }

// TestReadErrors checks that an error of the reader itself comes back
// wrapped with the file name, not disguised as a format error, including
// through gzip, zlib and the image decoders.
func TestReadErrors(t *testing.T) {
	bigGray := encodePNG(rampGray(64, 64))
	for _, tc := range []struct {
		name   string
		decode func() (any, error)
		file   string
	}{
		{"IDX magic", func() (any, error) {
			return DecodeIDX(failReader{}, bytes.NewReader(tinyLabels), "images", "labels", 10)
		}, "images"},
		{"IDX pixels", func() (any, error) {
			return DecodeIDX(failAfter(tinyImages[:20]), bytes.NewReader(tinyLabels), "images", "labels", 10)
		}, "images"},
		{"IDX gzip labels", func() (any, error) {
			gzl := gz(tinyLabels)
			return DecodeIDX(bytes.NewReader(tinyImages), failAfter(gzl[:len(gzl)-3]), "images", "labels", 10)
		}, "labels"},
		{"CIFAR", func() (any, error) { return DecodeCIFAR10(failAfter(cifarRecordOf(1)), "batch.bin") }, "batch.bin"},
		{"PNG header", func() (any, error) { return DecodeImage(failAfter(grayPNG[:10]), "x.png", 1, 2, 3) }, "x.png"},
		{"PNG pixels", func() (any, error) { return DecodeImage(failAfter(bigGray[:len(bigGray)-30]), "x.png", 1, 64, 64) }, "x.png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.decode()
			var fe *FormatError
			if !errors.Is(err, errDisk) || errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "data: "+tc.file+": reading ") {
				t.Errorf("error %v: want an I/O error naming the file", err)
			}
			if !reflectNil(got) {
				t.Error("returned a value along with the error")
			}
		})
	}
}

// reflectNil reports whether v is a nil *Dataset or []byte.
func reflectNil(v any) bool {
	switch v := v.(type) {
	case *Dataset:
		return v == nil
	case []byte:
		return v == nil
	}
	return false
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"label", &FormatError{"train-labels-idx1-ubyte.gz", 12, "label", errors.New("57 out of range [0,10)")},
			"data: train-labels-idx1-ubyte.gz: label at record 12: 57 out of range [0,10)"},
		{"no record", &FormatError{"f", -1, "magic", ErrMagic}, "data: f: magic: bad magic number"},
		{"no file", &UnsupportedError{"", "classes", errors.ErrUnsupported}, "data: classes: unsupported operation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
