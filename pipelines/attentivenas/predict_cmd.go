package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/stages"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

func init() {
	f := &predictFlags{}
	addCommand(&command{
		name: "predict",
		summary: "classify images with an exported model (attentivenas export): one JSON line per image (index, predicted class, its probability, label if known), " +
			"then the accuracy when the images are labelled; reads an IDX pair, a CIFAR-10 batch, or PNG/JPEG images (flat or in class folders)",
		flags: f.register,
		run: func(ctx context.Context) error {
			return runPredict(ctx, os.Stdout, f)
		},
	})
}

type predictFlags struct {
	model, data, stats string
	limit, batch       int
}

func (f *predictFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.model, "model", "", "exported model, <output>/export/<run>-<name>.parquet, local or gs:// (required)")
	fs.StringVar(&f.data, "data", "", "images, local or gs:// (required): an IDX images file (*-images-idx3-ubyte[.gz]; labels from the matching *-labels-idx1-ubyte[.gz] if present), "+
		"a CIFAR-10 .bin batch, a PNG/JPEG file, or a directory holding one of those (an IDX pair, preferring t10k-*; test_batch.bin) or PNG/JPEG images, "+
		"flat (unlabelled) or in <class>/ folders (labels: the folders' sorted order, as preprocess numbers them)")
	fs.StringVar(&f.stats, "stats", "", "dataset/stats.parquet whose train mean/std normalise the images, for a model that does not store them (default: the model's)")
	fs.IntVar(&f.limit, "limit", 0, "classify only the first N images (0 = all)")
	fs.IntVar(&f.batch, "batch", 256, "images per forward pass")
}

// prediction is one output line.
type prediction struct {
	Index       int              `json:"index"`
	File        string           `json:"file,omitempty"`
	Predicted   int              `json:"predicted"`
	Probability stages.JSONFloat `json:"probability"` // softmax of the predicted class (null if the logits are not finite)
	Label       *int             `json:"label,omitempty"`
}

// predictSummary is the last line when the images are labelled.
type predictSummary struct {
	Images   int     `json:"images"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
}

func runPredict(ctx context.Context, w io.Writer, f *predictFlags) error {
	switch {
	case f.model == "":
		return errors.New("--model is required: an exported model, <output>/export/<run>-<name>.parquet")
	case f.data == "":
		return errors.New("--data is required: the images to classify")
	case f.limit < 0 || f.batch < 1:
		return fmt.Errorf("--limit=%d --batch=%d: expected >= 0 and >= 1", f.limit, f.batch)
	}
	m, _, err := stages.ReadModel(ctx, f.model)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	mean, std, err := predictNormalisation(ctx, m, f)
	if err != nil {
		return err
	}
	size, ch := m.InputShape()
	in, err := loadPredictInput(ctx, f.data, size, ch, m.Classes())
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	d := in.ds
	if d.Height != size || d.Width != size || d.Channels != ch {
		return fmt.Errorf("--data=%s: images are %dx%dx%d (height x width x channels), the model takes %dx%dx%d", f.data, d.Height, d.Width, d.Channels, size, size, ch)
	}
	K := m.Classes()
	if in.labelled {
		for i, l := range d.Labels {
			if int(l) >= K {
				return fmt.Errorf("--data=%s: image %d has label %d, outside the model's %d classes", f.data, i, l, K)
			}
		}
	}
	n := d.Len()
	if f.limit > 0 {
		n = min(n, f.limit)
	}
	if n == 0 {
		return fmt.Errorf("--data=%s: no images", f.data)
	}
	px := size * size * ch
	enc := json.NewEncoder(w)
	correct := 0
	x := make([]float32, min(f.batch, n)*px)
	logits := make([]float32, min(f.batch, n)*K)
	for lo := 0; lo < n; lo += f.batch {
		B := min(f.batch, n-lo)
		for i := range B {
			data.Normalize(x[i*px:(i+1)*px], d.Image(lo+i), ch, mean, std)
		}
		m.Forward(logits[:B*K], x[:B*px], B)
		for i := range B {
			p := prediction{Index: lo + i}
			k, prob := top(logits[i*K : (i+1)*K])
			p.Predicted, p.Probability = k, stages.JSONFloat(prob)
			if in.files != nil {
				p.File = in.files[lo+i]
			}
			if in.labelled {
				l := int(d.Labels[lo+i])
				p.Label = &l
				if l == p.Predicted {
					correct++
				}
			}
			if err := enc.Encode(p); err != nil {
				return err
			}
		}
	}
	if in.labelled {
		return enc.Encode(predictSummary{Images: n, Correct: correct, Accuracy: float64(correct) / float64(n)})
	}
	return nil
}

// top returns the largest logit's class (the first on ties, as the
// evaluation counts top-1) and its softmax probability.
func top(logits []float32) (int, float64) {
	k := 0
	for j, v := range logits {
		if v > logits[k] {
			k = j
		}
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - logits[k]))
	}
	return k, 1 / sum
}

// predictNormalisation returns the per-channel mean and std that normalise
// the model's inputs: --stats if given, else the model's own.
func predictNormalisation(ctx context.Context, m *infer.Model, f *predictFlags) (mean, std []float32, err error) {
	_, ch := m.InputShape()
	if f.stats != "" {
		mean, std, err = stages.ReadTrainStats(ctx, f.stats)
		if err != nil {
			return nil, nil, fmt.Errorf("--stats: %w", err)
		}
		if len(mean) != ch || len(std) != ch {
			return nil, nil, fmt.Errorf("--stats=%s: %d channels, the model takes %d", f.stats, len(mean), ch)
		}
		return mean, std, nil
	}
	if len(m.Mean) != ch || len(m.Std) != ch {
		return nil, nil, fmt.Errorf("--model=%s stores no input normalisation (mean/std): pass --stats=<output>/dataset/stats.parquet of the dataset it was trained on", f.model)
	}
	mean, std = make([]float32, ch), make([]float32, ch)
	for c := range ch {
		mean[c], std[c] = float32(m.Mean[c]), float32(m.Std[c])
	}
	return mean, std, nil
}

// predictInput is the decoded --data: labels are meaningful only when
// labelled; files names each image of an image tree.
type predictInput struct {
	ds       *data.Dataset
	labelled bool
	files    []string
}

var idxImages = regexp.MustCompile(`-images-idx3-ubyte(\.gz)?$`)

// loadPredictInput decodes --data, a file or a directory (see the flag).
// Images of a tree are decoded at size x size x ch, the model's input;
// classes bounds IDX labels.
func loadPredictInput(ctx context.Context, p string, size, ch, classes int) (*predictInput, error) {
	p = strings.TrimSuffix(p, "/")
	flat, err := pqio.Glob(ctx, p+"/*")
	if err != nil {
		return nil, err
	}
	nested, err := pqio.Glob(ctx, p+"/*/*")
	if err != nil {
		return nil, err
	}
	if len(flat) == 0 && len(nested) == 0 { // a file
		base := path.Base(p)
		switch {
		case idxImages.MatchString(base):
			return loadIDX(ctx, p, classes)
		case strings.HasSuffix(base, ".bin"):
			return loadCIFAR(ctx, p)
		case data.IsImagePath(base):
			return loadImages(ctx, []string{p}, false, size, ch)
		}
		if err := mustExist(ctx, p); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: expected an IDX images file (*-images-idx3-ubyte[.gz]), a CIFAR-10 .bin batch, a PNG/JPEG image or a directory of those", p)
	}
	var idx []string
	for _, f := range flat {
		if idxImages.MatchString(path.Base(f)) {
			idx = append(idx, f)
		}
	}
	switch {
	case len(idx) == 1:
		return loadIDX(ctx, idx[0], classes)
	case len(idx) > 1:
		for _, f := range idx {
			if strings.HasPrefix(path.Base(f), "t10k-") {
				return loadIDX(ctx, f, classes)
			}
		}
		return nil, fmt.Errorf("%s holds several IDX image files %v: pass one of them as --data", p, idx)
	}
	for _, f := range append(slices.Clone(flat), nested...) {
		if b := path.Base(f); b == "test_batch.bin" {
			return loadCIFAR(ctx, f)
		}
	}
	var tree, loose []string
	for _, f := range nested {
		if data.IsImagePath(f) {
			tree = append(tree, f)
		}
	}
	for _, f := range flat {
		if data.IsImagePath(f) {
			loose = append(loose, f)
		}
	}
	switch {
	case len(tree) > 0:
		return loadImages(ctx, tree, true, size, ch)
	case len(loose) > 0:
		return loadImages(ctx, loose, false, size, ch)
	}
	return nil, fmt.Errorf("%s holds no IDX images file (*-images-idx3-ubyte[.gz]), CIFAR-10 test_batch.bin or PNG/JPEG images (flat or in class folders)", p)
}

// loadIDX decodes an IDX images file and, if present, its labels file.
func loadIDX(ctx context.Context, images string, classes int) (*predictInput, error) {
	im, err := readFile(ctx, images)
	if err != nil {
		return nil, err
	}
	// Not path.Join, which turns gs://b into gs:/b.
	labelsPath := images[:strings.LastIndex(images, "/")+1] + idxImages.ReplaceAllString(path.Base(images), "-labels-idx1-ubyte$1")
	found, err := pqio.Glob(ctx, labelsPath)
	if err != nil {
		return nil, err
	}
	var lb []byte
	labelled := len(found) > 0
	if labelled {
		if lb, err = readFile(ctx, labelsPath); err != nil {
			return nil, err
		}
	} else {
		// No labels: give the decoder a labels file of zeros for as many
		// images as the header announces, and report no labels.
		labelsPath = "(no labels file)"
		n, err := idxCount(im)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", images, err)
		}
		lb = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0x00000801), n)
		lb = append(lb, make([]byte, n)...)
	}
	d, err := data.DecodeIDX(bytes.NewReader(im), bytes.NewReader(lb), images, labelsPath, max(classes, 1))
	if err != nil {
		return nil, err
	}
	return &predictInput{ds: d, labelled: labelled}, nil
}

// idxCount reads the image count from an IDX header (gzip-compressed or
// not); DecodeIDX checks the rest.
func idxCount(b []byte) (uint32, error) {
	var r io.Reader = bytes.NewReader(b)
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return 0, err
		}
		r = zr
	}
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, fmt.Errorf("IDX header: %w", err)
	}
	n := binary.BigEndian.Uint32(head[4:])
	if n > 1<<28 {
		return 0, fmt.Errorf("IDX header announces %d images", n)
	}
	return n, nil
}

func loadCIFAR(ctx context.Context, p string) (*predictInput, error) {
	b, err := readFile(ctx, p)
	if err != nil {
		return nil, err
	}
	d, err := data.DecodeCIFAR10(bytes.NewReader(b), p)
	if err != nil {
		return nil, err
	}
	return &predictInput{ds: d, labelled: true}, nil
}

// loadImages decodes PNG/JPEG files of size x size into ch channels (RGB
// converted to luma or grayscale replicated, as preprocess does); with
// labelled, each file's class is its parent folder (data.FolderClasses).
func loadImages(ctx context.Context, paths []string, labelled bool, size, ch int) (*predictInput, error) {
	slices.Sort(paths)
	d := &data.Dataset{Height: size, Width: size, Channels: ch, Classes: 256, Labels: make([]uint8, len(paths))}
	if labelled {
		classes, labels, err := data.FolderClasses(paths)
		if err != nil {
			return nil, err
		}
		d.Classes, d.Labels = len(classes), labels
	}
	for _, p := range paths {
		b, err := readFile(ctx, p)
		if err != nil {
			return nil, err
		}
		px, err := data.DecodeImage(bytes.NewReader(b), p, ch, size, size)
		if err != nil {
			return nil, err
		}
		d.Pixels = append(d.Pixels, px...)
	}
	return &predictInput{ds: d, labelled: labelled, files: paths}, nil
}
