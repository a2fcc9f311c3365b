package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
)

// tinyImages is an IDX image file holding two 2x3 images.
var tinyImages = []byte{
	0, 0, 0x08, 3, // magic: uint8, 3 dimensions
	0, 0, 0, 2, // N = 2
	0, 0, 0, 2, // H = 2
	0, 0, 0, 3, // W = 3
	0, 1, 2, 3, 4, 5, // image 0, row-major
	250, 251, 252, 253, 254, 255, // image 1
}

// tinyLabels is the IDX label file for tinyImages: labels 7 and 9.
var tinyLabels = []byte{
	0, 0, 0x08, 1, // magic: uint8, 1 dimension
	0, 0, 0, 2, // N = 2
	7, 9,
}

// tinyDataset is tinyImages and tinyLabels decoded with 10 classes.
var tinyDataset = &Dataset{
	Height: 2, Width: 3, Channels: 1, Classes: 10,
	Pixels: []byte{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255},
	Labels: []uint8{7, 9},
}

// oneImage is an IDX image file holding one 1x1 image of value 42.
var oneImage = []byte{
	0, 0, 0x08, 3, // magic
	0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, // N = H = W = 1
	42,
}

// oneLabel is an IDX label file holding one label, 0.
var oneLabel = []byte{0, 0, 0x08, 1, 0, 0, 0, 1, 0}

func TestDecodeIDX(t *testing.T) {
	for _, tc := range []struct {
		name           string
		images, labels []byte
		classes        int
		want           *Dataset
	}{
		{"raw", tinyImages, tinyLabels, 10, tinyDataset},
		{"gzip images", gz(tinyImages), tinyLabels, 10, tinyDataset},
		{"gzip both", gz(tinyImages), gz(tinyLabels), 10, tinyDataset},
		{"gzip multistream", cat(gz(tinyImages[:10]), gz(tinyImages[10:])), tinyLabels, 10, tinyDataset},
		{"one pixel, one class", oneImage, oneLabel, 1,
			&Dataset{Height: 1, Width: 1, Channels: 1, Classes: 1, Pixels: []byte{42}, Labels: []uint8{0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeIDX(bytes.NewReader(tc.images), bytes.NewReader(tc.labels), "images", "labels", tc.classes)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if img := got.Image(got.Len() - 1); !bytes.Equal(img, tc.want.Pixels[len(tc.want.Pixels)-len(img):]) {
				t.Errorf("last image %v", img)
			}
		})
	}
}

func TestDecodeIDXErrors(t *testing.T) {
	gzLabels := gz(tinyLabels)
	for _, tc := range []struct {
		brokenCase
		images, labels []byte
		classes        int
	}{
		{brokenCase{"empty images", false, ErrTruncated, "images", -1, "magic: truncated"}, nil, tinyLabels, 10},
		{brokenCase{"truncated dimensions", false, io.ErrUnexpectedEOF, "images", -1, "dimensions"}, tinyImages[:14], tinyLabels, 10},
		{brokenCase{"truncated pixels", false, ErrTruncated, "images", 1, "pixels at record 1: truncated"}, tinyImages[:len(tinyImages)-1], tinyLabels, 10},
		{brokenCase{"truncated labels", false, ErrTruncated, "labels", 1, "label at record 1"}, tinyImages, tinyLabels[:9], 10},
		{brokenCase{"trailing image data", false, ErrTrailing, "images", -1, "end: data after the last record"}, cat(tinyImages, []byte{0}), tinyLabels, 10},
		{brokenCase{"trailing label data", false, ErrTrailing, "labels", -1, "end"}, tinyImages, cat(tinyLabels, []byte{0}), 10},
		{brokenCase{"labels given as images", false, ErrMagic, "images", -1, "0x00000801, want 0x00000803"}, tinyLabels, tinyLabels, 10},
		{brokenCase{"images given as labels", false, ErrMagic, "labels", -1, "0x00000803, want 0x00000801"}, tinyImages, tinyImages, 10},
		{brokenCase{"not IDX", false, ErrMagic, "images", -1, "0x504b0304"}, []byte("PK\x03\x04rest of a zip"), tinyLabels, 10},
		{brokenCase{"float32 images", true, errors.ErrUnsupported, "images", -1, "0x0d (float32)"}, set(tinyImages, 2, 0x0d), tinyLabels, 10},
		{brokenCase{"count mismatch", false, ErrMismatch, "labels", -1, "1 labels for 2 images"}, tinyImages, []byte{0, 0, 8, 1, 0, 0, 0, 1, 7}, 10},
		{brokenCase{"label out of range", false, ErrLabel, "labels", 1, "label at record 1: 9 out of range [0,9)"}, tinyImages, tinyLabels, 9},
		{brokenCase{"no images", false, ErrEmpty, "images", -1, "no records"}, set(tinyImages, 7, 0), tinyLabels, 10},
		{brokenCase{"zero width", false, ErrShape, "images", -1, "dimension 2 is 0"}, set(tinyImages, 15, 0), tinyLabels, 10},
		{brokenCase{"oversized count", false, ErrTooLarge, "images", -1, "dimension 0 is 4294967295"},
			[]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 1}, tinyLabels, 10},
		{brokenCase{"oversized product", false, ErrTooLarge, "images", -1, "dimension 2 is 4096"},
			[]byte{0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0x10, 0, 0, 0, 0x10, 0}, tinyLabels, 10}, // 60000 x 4096 x 4096
		{brokenCase{"gzip checksum", false, gzip.ErrChecksum, "labels", -1, "end: gzip: invalid checksum"}, tinyImages, set(gzLabels, -8, gzLabels[len(gzLabels)-8]^1), 10},
		{brokenCase{"gzip truncated", false, ErrTruncated, "labels", -1, "truncated"}, tinyImages, gzLabels[:len(gzLabels)-4], 10},
		{brokenCase{"gzip bad header", false, gzip.ErrHeader, "images", -1, "gzip header"}, []byte{0x1f, 0x8b, 0, 0, 0, 0, 0, 0, 0, 0}, tinyLabels, 10},
		{brokenCase{"gzip trailing garbage", false, gzip.ErrHeader, "images", -1, "end"}, cat(gz(tinyImages), []byte("junk after the gzip stream")), tinyLabels, 10},
		// A damaged stream that decompresses to more than the records (its
		// checksum then fails) is corrupt gzip, not trailing data.
		{brokenCase{"gzip corrupt, longer", false, gzip.ErrChecksum, "images", -1, "gzip stream (corrupt"},
			func() []byte { z := gz(cat(tinyImages, []byte{7, 7, 7})); return set(z, -8, z[len(z)-8]^1) }(), tinyLabels, 10},
		// An intact gzip stream holding more than the records is trailing data.
		{brokenCase{"gzip trailing data", false, ErrTrailing, "images", -1, "end: data after the last record"}, gz(cat(tinyImages, []byte{0})), tinyLabels, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeIDX(bytes.NewReader(tc.images), bytes.NewReader(tc.labels), "images", "labels", tc.classes)
			checkBroken(t, tc.brokenCase, got == nil, err)
		})
	}
}

func TestDecodeIDXClasses(t *testing.T) {
	for _, classes := range []int{0, -1, 257} {
		got, err := DecodeIDX(bytes.NewReader(tinyImages), bytes.NewReader(tinyLabels), "images", "labels", classes)
		if err == nil || got != nil {
			t.Errorf("classes %d: got %v, %v; want an error", classes, got, err)
		}
	}
}

// TestDecodeIDXHugeHeader checks that a header promising 1e9 pixels over a
// few bytes of data costs little memory.
func TestDecodeIDXHugeHeader(t *testing.T) {
	images := []byte{
		0, 0, 8, 3,
		0, 0x0f, 0x42, 0x40, // N = 1,000,000
		0, 0, 0x03, 0xe8, // H = 1000
		0, 0, 0, 1, // W = 1
		1, 2, 3,
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := DecodeIDX(bytes.NewReader(images), bytes.NewReader([]byte{0, 0, 8, 1, 0, 0x0f, 0x42, 0x40}), "images", "labels", 10)
	runtime.ReadMemStats(&after)
	if got != nil || !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, %v; want ErrTruncated", got, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("allocated %d bytes", n)
	}
}

func TestEncodeIDXErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    *Dataset
	}{
		{"three channels", &Dataset{Height: 1, Width: 1, Channels: 3, Classes: 1, Pixels: []byte{1, 2, 3}, Labels: []uint8{0}}},
		{"pixels short", &Dataset{Height: 2, Width: 1, Channels: 1, Classes: 1, Pixels: []byte{1}, Labels: []uint8{0}}},
		{"label out of range", &Dataset{Height: 1, Width: 1, Channels: 1, Classes: 1, Pixels: []byte{1}, Labels: []uint8{1}}},
		{"zero height", &Dataset{Width: 1, Channels: 1, Classes: 1, Labels: []uint8{0}}},
		{"no images", &Dataset{Height: 1, Width: 1, Channels: 1, Classes: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := EncodeIDX(io.Discard, io.Discard, tc.d); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestDecodeIDXPrefixes checks that every strict prefix of a valid file,
// raw or gzip, is rejected as truncated.
func TestDecodeIDXPrefixes(t *testing.T) {
	for _, tc := range []struct {
		name           string
		images, labels []byte
		cut            int // 0: cut images, 1: cut labels
	}{
		{"images", tinyImages, tinyLabels, 0},
		{"labels", tinyImages, tinyLabels, 1},
		{"gzip images", gz(tinyImages), tinyLabels, 0},
		{"gzip labels", tinyImages, gz(tinyLabels), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := [2][]byte{tc.images, tc.labels}
			for n := range len(files[tc.cut]) {
				cut := files
				cut[tc.cut] = cut[tc.cut][:n]
				got, err := DecodeIDX(bytes.NewReader(cut[0]), bytes.NewReader(cut[1]), "images", "labels", 10)
				if got != nil || !errors.Is(err, ErrTruncated) {
					t.Fatalf("prefix of %d bytes: got %v, %v; want ErrTruncated", n, got, err)
				}
			}
		})
	}
}
