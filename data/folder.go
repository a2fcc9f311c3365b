package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"path"
	"slices"
	"strings"
)

// IsImagePath reports whether p names a file an image tree may hold: its
// extension is .png, .jpg or .jpeg, in any case.
//
// See also [FolderClasses].
func IsImagePath(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// FolderClasses labels the files of a class-per-folder tree,
// root/<class>/<file>: the class of a file is the name of its parent
// directory. paths are slash-separated paths or URLs (gs://bucket/root/cat/1.png).
//
// It returns the class names sorted (byte order), which makes label i the
// i-th class, and the label of each path. A path without a parent directory
// is a [*FormatError]; more than 256 classes an [*UnsupportedError].
//
// See also [IsImagePath], [DecodeImage].
func FolderClasses(paths []string) (classes []string, labels []uint8, err error) {
	names := make([]string, len(paths))
	for i, p := range paths {
		dir := path.Dir(p)
		names[i] = path.Base(dir)
		if dir == "." || dir == "/" || strings.HasSuffix(dir, ":") {
			return nil, nil, &FormatError{p, -1, "path", errors.New("no parent directory to name the class")}
		}
	}
	classes = slices.Clone(names)
	slices.Sort(classes)
	classes = slices.Compact(classes)
	if len(classes) > 256 {
		err := fmt.Errorf("%d classes, at most 256: %w", len(classes), errors.ErrUnsupported)
		return nil, nil, &UnsupportedError{"", "classes", err}
	}
	labels = make([]uint8, len(paths))
	for i, name := range names {
		l, _ := slices.BinarySearch(classes, name)
		labels[i] = uint8(l)
	}
	return classes, labels, nil
}

// DecodeImage decodes a PNG or JPEG image and returns its pixels in HWC
// order with channels 1 (grayscale, ITU-R BT.601 luma as in
// image/color.GrayModel) or 3 (RGB; a grayscale image is replicated).
// Transparent pixels are composited onto black. name is used in errors.
//
// The image must be height x width: it is not resized, so that every image
// of a dataset agrees, and the size is checked from the header before the
// pixels are decoded. Errors are [*FormatError] (ErrNotImage for a file that
// is neither PNG nor JPEG, ErrMismatch for a size mismatch, ErrTruncated, or
// the image/png or image/jpeg error) or [*UnsupportedError] (channels other
// than 1 and 3, a PNG or JPEG feature the standard library lacks, or a format
// such as GIF that another package of the program registered with image).
//
// See also [FolderClasses].
func DecodeImage(r io.Reader, name string, channels, height, width int) ([]byte, error) {
	if channels != 1 && channels != 3 {
		err := fmt.Errorf("%d channels requested, want 1 or 3: %w", channels, errors.ErrUnsupported)
		return nil, &UnsupportedError{name, "channels", err}
	}
	r = source{r}
	// DecodeConfig reads the header; head keeps those bytes for Decode.
	var head bytes.Buffer
	cfg, format, err := image.DecodeConfig(io.TeeReader(r, &head))
	if err != nil {
		return nil, imageError(name, err)
	}
	if format != "png" && format != "jpeg" { // another package registered it
		err := fmt.Errorf("%s image, want PNG or JPEG: %w", format, errors.ErrUnsupported)
		return nil, &UnsupportedError{name, "image", err}
	}
	if cfg.Height != height || cfg.Width != width {
		err := fmt.Errorf("%w: image is %dx%d (height x width), the dataset's images are %dx%d", ErrMismatch, cfg.Height, cfg.Width, height, width)
		return nil, &FormatError{name, -1, "size", err}
	}
	img, _, err := image.Decode(io.MultiReader(&head, r))
	if err != nil {
		return nil, imageError(name, err)
	}
	b := img.Bounds()
	out := make([]byte, 0, height*width*channels)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.At(x, y)
			if channels == 1 {
				out = append(out, color.GrayModel.Convert(c).(color.Gray).Y)
				continue
			}
			red, green, blue, _ := c.RGBA()
			out = append(out, byte(red>>8), byte(green>>8), byte(blue>>8))
		}
	}
	return out, nil
}

// truncatedImage holds the errors image/png and image/jpeg return, as their
// FormatError, when the input ends early.
var truncatedImage = []error{png.FormatError("unexpected EOF"), png.FormatError("not enough pixel data"), jpeg.FormatError("short Huffman data")}

// imageError classifies an error from image/png or image/jpeg.
func imageError(name string, err error) error {
	var (
		pngUnsup  png.UnsupportedError
		jpegUnsup jpeg.UnsupportedError
	)
	switch {
	case errors.Is(err, image.ErrFormat):
		return &FormatError{name, -1, "image", ErrNotImage}
	case errors.As(err, &pngUnsup), errors.As(err, &jpegUnsup):
		return &UnsupportedError{name, "image", err}
	case slices.ContainsFunc(truncatedImage, func(e error) bool { return errors.Is(err, e) }):
		return &FormatError{name, -1, "image", fmt.Errorf("%w (%w)", ErrTruncated, err)}
	}
	return readError(name, -1, "image", err)
}
