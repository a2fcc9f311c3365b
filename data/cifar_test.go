package data

import (
	"bytes"
	"compress/gzip"
	"io"
	"reflect"
	"testing"
)

// cifarValue is the test pattern of a CIFAR record: channel c of pixel (y, x)
// of an image with label l, distinct per channel and position within a row.
func cifarValue(l, c, y, x int) byte { return byte(l*7 + c*64 + (y+x)%64) }

// cifarRecordOf is a CIFAR-10 record (label byte, then R, G and B planes of
// 32x32 bytes) holding the cifarValue pattern.
func cifarRecordOf(label int) []byte {
	rec := []byte{byte(label)}
	for c := range 3 {
		for y := range 32 {
			for x := range 32 {
				rec = append(rec, cifarValue(label, c, y, x))
			}
		}
	}
	return rec
}

// cifarDatasetOf is the decoded form of the records cifarRecordOf(labels...).
func cifarDatasetOf(labels ...int) *Dataset {
	d := &Dataset{Height: 32, Width: 32, Channels: 3, Classes: 10}
	for _, l := range labels {
		d.Labels = append(d.Labels, uint8(l))
		for y := range 32 {
			for x := range 32 {
				for c := range 3 {
					d.Pixels = append(d.Pixels, cifarValue(l, c, y, x))
				}
			}
		}
	}
	return d
}

func TestDecodeCIFAR10(t *testing.T) {
	two := cat(cifarRecordOf(3), cifarRecordOf(9))
	for _, tc := range []struct {
		name  string
		input []byte
		want  *Dataset
	}{
		{"one record", cifarRecordOf(0), cifarDatasetOf(0)},
		{"two records", two, cifarDatasetOf(3, 9)},
		{"gzip", gz(two), cifarDatasetOf(3, 9)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeCIFAR10(bytes.NewReader(tc.input), "batch.bin")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %dx%dx%d %v, want %v", got.Height, got.Width, got.Channels, got.Labels, tc.want.Labels)
			}
			// Pixel (y=1, x=2) of the last image, channel B, read from HWC order.
			last := got.Len() - 1
			if v, want := got.Image(last)[(1*32+2)*3+2], cifarValue(int(got.Labels[last]), 2, 1, 2); v != want {
				t.Errorf("B at (1,2) = %d, want %d", v, want)
			}
			var enc bytes.Buffer
			if err := EncodeCIFAR10(&enc, got); err != nil {
				t.Fatal(err)
			}
			if raw := tc.input; tc.name != "gzip" && !bytes.Equal(enc.Bytes(), raw) {
				t.Error("EncodeCIFAR10 does not reproduce the input")
			}
		})
	}
}

func TestDecodeCIFAR10Errors(t *testing.T) {
	rec := cifarRecordOf(1)
	gzRec := gz(rec)
	for _, tc := range []struct {
		brokenCase
		input []byte
	}{
		{brokenCase{"empty", false, ErrEmpty, "batch.bin", -1, "record: no records"}, nil},
		{brokenCase{"short record", false, io.ErrUnexpectedEOF, "batch.bin", 0, "record at record 0: truncated"}, rec[:cifarImage]},
		{brokenCase{"extra byte", false, ErrTruncated, "batch.bin", 1, "at record 1"}, cat(rec, []byte{0})},
		{brokenCase{"label 10", false, ErrLabel, "batch.bin", 1, "label at record 1: 10 out of range [0,10)"}, cat(rec, set(rec, 0, 10))},
		{brokenCase{"gzip checksum", false, gzip.ErrChecksum, "batch.bin", 1, "invalid checksum"}, set(gzRec, -5, gzRec[len(gzRec)-5]^1)},
		{brokenCase{"gzip truncated", false, ErrTruncated, "batch.bin", 0, "truncated"}, gzRec[:len(gzRec)/2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeCIFAR10(bytes.NewReader(tc.input), "batch.bin")
			checkBroken(t, tc.brokenCase, got == nil, err)
		})
	}
}

func TestEncodeCIFAR10Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    *Dataset
	}{
		{"not 32x32x3", tinyDataset},
		{"label 10", &Dataset{Height: 32, Width: 32, Channels: 3, Classes: 11, Pixels: make([]byte, cifarImage), Labels: []uint8{10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := EncodeCIFAR10(io.Discard, tc.d); err == nil {
				t.Error("no error")
			}
		})
	}
}
