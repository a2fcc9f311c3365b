package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
)

// gz returns b gzip-compressed.
func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// cat returns the concatenation of parts, a new slice.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// set returns a copy of b with b[i] = v; a negative i counts from the end.
func set(b []byte, i int, v byte) []byte {
	b = bytes.Clone(b)
	if i < 0 {
		i += len(b)
	}
	b[i] = v
	return b
}

// brokenCase is an input a decoder must reject with a typed error.
type brokenCase struct {
	name        string
	unsupported bool   // want *UnsupportedError, else *FormatError
	is          error  // a sentinel the error must wrap
	file        string // FormatError.File / UnsupportedError.File
	record      int    // FormatError.Record
	msg         string // substring of the message
}

// checkBroken asserts that err is the typed error tc describes and that the
// decoder returned no value.
func checkBroken(t *testing.T, tc brokenCase, gotNil bool, err error) {
	t.Helper()
	if !gotNil {
		t.Errorf("returned a value along with error %v", err)
	}
	if err == nil {
		t.Fatal("no error")
	}
	var fe *FormatError
	var ue *UnsupportedError
	switch {
	case tc.unsupported && errors.As(err, &ue):
		if ue.File != tc.file {
			t.Errorf("UnsupportedError.File = %q, want %q", ue.File, tc.file)
		}
	case !tc.unsupported && errors.As(err, &fe):
		if fe.File != tc.file || fe.Record != tc.record {
			t.Errorf("FormatError file %q record %d, want %q record %d", fe.File, fe.Record, tc.file, tc.record)
		}
	default:
		t.Fatalf("error %v (%T) is not the expected type (unsupported=%v)", err, err, tc.unsupported)
	}
	if !errors.Is(err, tc.is) {
		t.Errorf("error %v does not wrap %v", err, tc.is)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "data: "+tc.file) || !strings.Contains(msg, tc.msg) {
		t.Errorf("message %q: want prefix %q and %q in it", msg, "data: "+tc.file, tc.msg)
	}
}
