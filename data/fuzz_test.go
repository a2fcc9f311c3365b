package data

import (
	"bytes"
	"errors"
	"image"
	"reflect"
	"testing"
)

// Crashers the fuzzer finds are kept in testdata/fuzz/<target> and replayed
// by go test as regression seeds.

// checkTyped fails unless err is a FormatError or an UnsupportedError: the
// inputs are in memory, so there is no I/O error.
func checkTyped(t *testing.T, err error) {
	var fe *FormatError
	var ue *UnsupportedError
	if !errors.As(err, &fe) && !errors.As(err, &ue) {
		t.Fatalf("untyped error %v (%T)", err, err)
	}
}

// isGzip reports whether b starts with the gzip magic.
func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

func FuzzDecodeIDX(f *testing.F) {
	f.Add(tinyImages, tinyLabels)
	f.Add(gz(tinyImages), gz(tinyLabels))
	f.Add(oneImage, oneLabel)
	f.Add(tinyImages[:20], tinyLabels)          // truncated pixels
	f.Add(set(tinyImages, 2, 0x0d), tinyLabels) // float32 images
	f.Add(tinyLabels, tinyImages)               // swapped files
	f.Fuzz(func(t *testing.T, images, labels []byte) {
		d, err := DecodeIDX(bytes.NewReader(images), bytes.NewReader(labels), "images", "labels", 10)
		if err != nil {
			if d != nil {
				t.Fatal("returned a dataset and an error")
			}
			checkTyped(t, err)
			return
		}
		var im, lb bytes.Buffer
		if err := EncodeIDX(&im, &lb, d); err != nil {
			t.Fatalf("EncodeIDX of a decoded dataset: %v", err)
		}
		if !isGzip(images) && !bytes.Equal(im.Bytes(), images) || !isGzip(labels) && !bytes.Equal(lb.Bytes(), labels) {
			t.Fatal("EncodeIDX does not reproduce the raw input")
		}
		again, err := DecodeIDX(&im, &lb, "images", "labels", 10)
		if err != nil || !reflect.DeepEqual(again, d) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzDecodeCIFAR10(f *testing.F) {
	rec := cifarRecordOf(4)
	f.Add(rec)
	f.Add(gz(cat(rec, cifarRecordOf(9))))
	f.Add(rec[:100])          // truncated
	f.Add(set(rec, 0, 10))    // label out of range
	f.Add([]byte{0x1f, 0x8b}) // gzip magic only
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeCIFAR10(bytes.NewReader(b), "batch.bin")
		if err != nil {
			if d != nil {
				t.Fatal("returned a dataset and an error")
			}
			checkTyped(t, err)
			return
		}
		var enc bytes.Buffer
		if err := EncodeCIFAR10(&enc, d); err != nil {
			t.Fatalf("EncodeCIFAR10 of a decoded dataset: %v", err)
		}
		if !isGzip(b) && !bytes.Equal(enc.Bytes(), b) {
			t.Fatal("EncodeCIFAR10 does not reproduce the raw input")
		}
		again, err := DecodeCIFAR10(&enc, "batch.bin")
		if err != nil || !reflect.DeepEqual(again, d) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzDecodeImage(f *testing.F) {
	f.Add(grayPNG, 1)
	f.Add(rgbaPNG, 3)
	f.Add(flatJPEG(), 3)
	f.Add(grayPNG[:40], 1) // truncated
	f.Add([]byte("hello"), 1)
	f.Fuzz(func(t *testing.T, file []byte, channels int) {
		channels = 1 + 2*(channels&1) // 1 or 3
		h, w := 2, 3                  // the size of the seeds; the header's size if it is small
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(file)); err == nil && cfg.Width*cfg.Height <= 1<<16 {
			h, w = cfg.Height, cfg.Width
		}
		px, err := DecodeImage(bytes.NewReader(file), "x", channels, h, w)
		if err != nil {
			if px != nil {
				t.Fatal("returned pixels and an error")
			}
			checkTyped(t, err)
			return
		}
		if len(px) != h*w*channels {
			t.Fatalf("%d bytes for %dx%dx%d", len(px), h, w, channels)
		}
		// Round trip through a PNG of the decoded pixels.
		var img image.Image = &image.Gray{Pix: px, Stride: w, Rect: image.Rect(0, 0, w, h)}
		if channels == 3 {
			rgba := image.NewRGBA(image.Rect(0, 0, w, h))
			for i := range h * w {
				copy(rgba.Pix[4*i:], px[3*i:3*i+3])
				rgba.Pix[4*i+3] = 255
			}
			img = rgba
		}
		again, err := DecodeImage(bytes.NewReader(encodePNG(img)), "x", channels, h, w)
		if err != nil || !bytes.Equal(again, px) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
