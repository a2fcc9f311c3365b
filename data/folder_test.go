package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif" // registers GIF with package image, as another package of a program might
	"image/jpeg"
	"image/png"
	"io"
	"reflect"
	"testing"
)

func TestFolderClasses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		paths   []string
		classes []string
		labels  []uint8
	}{
		{"local", []string{"root/dog/1.png", "root/cat/2.jpg", "root/dog/3.png"}, []string{"cat", "dog"}, []uint8{1, 0, 1}},
		{"gs URLs", []string{"gs://b/set/ship/a.JPEG", "gs://b/set/car/b.png"}, []string{"car", "ship"}, []uint8{1, 0}},
		{"absolute", []string{"/data/9/x.png", "/data/10/y.png"}, []string{"10", "9"}, []uint8{1, 0}},
		{"none", nil, []string{}, []uint8{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			classes, labels, err := FolderClasses(tc.paths)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(classes, tc.classes) || !reflect.DeepEqual(labels, tc.labels) {
				t.Errorf("got %q %v, want %q %v", classes, labels, tc.classes, tc.labels)
			}
		})
	}
}

func TestFolderClassesErrors(t *testing.T) {
	many := make([]string, 257)
	for i := range many {
		many[i] = fmt.Sprintf("root/c%d/x.png", i)
	}
	for _, tc := range []struct {
		name  string
		paths []string
	}{
		{"no directory", []string{"root/a/x.png", "x.png"}},
		{"root file", []string{"/x.png"}},
		{"bucket root", []string{"gs://x.png"}},
		{"empty path", []string{""}},
		{"257 classes", many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			classes, labels, err := FolderClasses(tc.paths)
			var fe *FormatError
			var ue *UnsupportedError
			if classes != nil || labels != nil || !(errors.As(err, &fe) || errors.As(err, &ue)) {
				t.Errorf("got %v, %v, %v; want a typed error", classes, labels, err)
			}
		})
	}
}

func TestIsImagePath(t *testing.T) {
	for p, want := range map[string]bool{
		"a/b.png": true, "a/b.JPG": true, "gs://x/y.jpeg": true,
		"a/b.gif": false, "a/.DS_Store": false, "a/png": false,
	} {
		if got := IsImagePath(p); got != want {
			t.Errorf("IsImagePath(%q) = %v", p, got)
		}
	}
}

// encodePNG returns img as a PNG file.
func encodePNG(img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Test images, 2 rows by 3 columns.
var (
	// grayPNG has values 10*(3y+x): 0 10 20 / 30 40 50.
	grayPNG = encodePNG(&image.Gray{Pix: []byte{0, 10, 20, 30, 40, 50}, Stride: 3, Rect: image.Rect(0, 0, 3, 2)})
	// rgbaPNG has pure red, green, blue, white, black and a half-transparent
	// white stored non-premultiplied (200 composited onto black is 100).
	rgbaPNG = encodePNG(&image.NRGBA{Pix: []byte{
		255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255,
		255, 255, 255, 255, 0, 0, 0, 255, 200, 200, 200, 128,
	}, Stride: 12, Rect: image.Rect(0, 0, 3, 2)})
)

// rampGray is an h x w gray image with values 7x+13y mod 256.
func rampGray(h, w int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i%w*7 + i/w*13)
	}
	return img
}

// flatJPEG is a 2x3 JPEG of one gray level, which JPEG keeps exactly.
func flatJPEG() []byte {
	img := image.NewGray(image.Rect(0, 0, 3, 2))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func TestDecodeImage(t *testing.T) {
	lum := func(r, g, b int) byte {
		return color.GrayModel.Convert(color.RGBA{uint8(r), uint8(g), uint8(b), 255}).(color.Gray).Y
	}
	for _, tc := range []struct {
		name     string
		file     []byte
		channels int
		want     []byte
	}{
		{"gray as gray", grayPNG, 1, []byte{0, 10, 20, 30, 40, 50}},
		{"gray as RGB", grayPNG, 3, []byte{0, 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40, 50, 50, 50}},
		{"RGBA as RGB", rgbaPNG, 3, []byte{255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 100, 100, 100}},
		{"RGBA as gray", rgbaPNG, 1, []byte{lum(255, 0, 0), lum(0, 255, 0), lum(0, 0, 255), 255, 0, 100}},
		{"JPEG as gray", flatJPEG(), 1, []byte{128, 128, 128, 128, 128, 128}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeImage(bytes.NewReader(tc.file), "root/cat/x.png", tc.channels, 2, 3)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecodeImageErrors(t *testing.T) {
	const name = "root/cat/x.png"
	// hugePNG is a PNG signature and IHDR chunk announcing 100000x100000
	// pixels, with nothing after it.
	hugePNG := encodePNG(image.NewGray(image.Rect(0, 0, 1, 1)))[:33]
	copy(hugePNG[16:24], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0})
	binary.BigEndian.PutUint32(hugePNG[29:], crc32.ChecksumIEEE(hugePNG[12:29]))
	jpg := flatJPEG()
	var gifFile bytes.Buffer
	if err := gif.Encode(&gifFile, image.NewGray(image.Rect(0, 0, 3, 2)), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		brokenCase
		file     []byte
		channels int
	}{
		{brokenCase{"text file", false, ErrNotImage, name, -1, "image: not a PNG or JPEG image"}, []byte("hello, world\n"), 1},
		{brokenCase{"empty file", false, ErrNotImage, name, -1, "not a PNG"}, nil, 1},
		{brokenCase{"size mismatch", false, ErrMismatch, name, -1, "image is 2x3 (height x width), the dataset's images are 28x28"}, grayPNG, 1},
		{brokenCase{"oversized", false, ErrMismatch, name, -1, "image is 100000x100000"}, hugePNG, 1},
		{brokenCase{"truncated PNG", false, ErrTruncated, name, -1, "truncated"}, grayPNG[:len(grayPNG)-20], 1},
		{brokenCase{"truncated JPEG", false, io.ErrUnexpectedEOF, name, -1, "truncated"}, jpg[:len(jpg)-10], 1},
		{brokenCase{"bad checksum", false, png.FormatError("invalid checksum"), name, -1, "invalid checksum"}, set(grayPNG, -1, grayPNG[len(grayPNG)-1]^1), 1},
		{brokenCase{"GIF", true, errors.ErrUnsupported, name, -1, "gif image, want PNG or JPEG"}, gifFile.Bytes(), 1},
		{brokenCase{"two channels", true, errors.ErrUnsupported, name, -1, "channels"}, grayPNG, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, w := 2, 3
			if tc.is == ErrMismatch {
				h, w = 28, 28
			}
			got, err := DecodeImage(bytes.NewReader(tc.file), name, tc.channels, h, w)
			checkBroken(t, tc.brokenCase, got == nil, err)
		})
	}
}

// TestDecodeImagePrefixes checks that every strict prefix of a valid file is
// rejected as truncated, or as not an image while the signature is incomplete.
func TestDecodeImagePrefixes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		file      []byte
		signature int // bytes image.Decode needs to tell the format
	}{
		{"PNG", rgbaPNG, 8},
		{"JPEG", flatJPEG(), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for n := range len(tc.file) {
				got, err := DecodeImage(bytes.NewReader(tc.file[:n]), "x", 3, 2, 3)
				want := ErrTruncated
				if n < tc.signature {
					want = ErrNotImage
				}
				if got != nil || !errors.Is(err, want) {
					t.Fatalf("prefix of %d bytes: got %v, %v; want %v", n, got, err, want)
				}
			}
		})
	}
}
