package pqio

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeGCS is an in-memory stand-in for the parts of the Cloud Storage JSON
// and XML APIs that Beam's gcs filesystem and pqio use: list, attributes,
// (ranged) reads, multipart uploads, rewrite (copy) and delete. Clients reach
// it through STORAGE_EMULATOR_HOST, which the storage library honours.
type fakeGCS struct {
	mu      sync.Mutex
	objects map[string][]byte // "bucket/object" -> contents
	gens    map[string]int64
	nextGen int64
	ranged  int // ranged reads served
}

// startFakeGCS starts the server and points the storage library at it for
// the rest of the test.
func startFakeGCS(t *testing.T) *fakeGCS {
	f := &fakeGCS{objects: map[string][]byte{}, gens: map[string]int64{}, nextGen: 1}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL, "http://"))
	return f
}

// names returns the object names under bucket/prefix, sorted.
func (f *fakeGCS) names(bucket, prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.objects {
		if name, ok := strings.CutPrefix(k, bucket+"/"); ok && strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (f *fakeGCS) put(bucket, name string, b []byte) map[string]any {
	k := bucket + "/" + name
	f.objects[k] = b
	f.gens[k] = f.nextGen
	f.nextGen++
	return f.attrs(bucket, name)
}

func (f *fakeGCS) attrs(bucket, name string) map[string]any {
	k := bucket + "/" + name
	return map[string]any{
		"kind": "storage#object", "bucket": bucket, "name": name,
		"size": strconv.Itoa(len(f.objects[k])), "generation": strconv.FormatInt(f.gens[k], 10),
		"id": k, "contentType": "application/octet-stream",
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": 404, "message": "No such object"}})
}

// segments splits the escaped path, unescaping each segment (object names
// arrive with '/' escaped as %2F in the JSON API).
func segments(r *http.Request) []string {
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	return parts
}

func (f *fakeGCS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := segments(r)
	switch {
	case len(p) >= 5 && p[0] == "upload" && p[1] == "storage" && r.Method == http.MethodPost: // upload/storage/v1/b/B/o
		f.upload(w, r, p[4])
	case len(p) == 5 && p[0] == "storage" && p[4] == "o" && r.Method == http.MethodGet: // storage/v1/b/B/o
		f.list(w, r, p[3])
	case len(p) == 11 && p[0] == "storage" && p[6] == "rewriteTo" && r.Method == http.MethodPost: // storage/v1/b/B/o/O/rewriteTo/b/B/o/O
		src, ok := f.objects[p[3]+"/"+p[5]]
		if !ok {
			notFound(w)
			return
		}
		obj := f.put(p[8], p[10], slices.Clone(src))
		writeJSON(w, http.StatusOK, map[string]any{
			"kind": "storage#rewriteResponse", "done": true, "resource": obj,
			"totalBytesRewritten": strconv.Itoa(len(src)), "objectSize": strconv.Itoa(len(src)),
		})
	case len(p) == 6 && p[0] == "storage" && p[4] == "o": // storage/v1/b/B/o/O
		k := p[3] + "/" + p[5]
		if _, ok := f.objects[k]; !ok {
			notFound(w)
			return
		}
		switch r.Method {
		case http.MethodDelete:
			if !f.generationMatches(w, r, k) {
				return
			}
			delete(f.objects, k)
			w.WriteHeader(http.StatusNoContent)
		case http.MethodGet:
			if r.URL.Query().Get("alt") == "media" {
				f.serveMedia(w, r, k)
				return
			}
			writeJSON(w, http.StatusOK, f.attrs(p[3], p[5]))
		default:
			http.Error(w, "unsupported", http.StatusNotImplemented)
		}
	case len(p) >= 2 && p[0] != "storage" && p[0] != "upload" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		// XML API read: /<bucket>/<object with slashes>.
		k := p[0] + "/" + strings.Join(p[1:], "/")
		if _, ok := f.objects[k]; !ok {
			http.Error(w, "NoSuchKey", http.StatusNotFound)
			return
		}
		f.serveMedia(w, r, k)
	default:
		http.Error(w, fmt.Sprintf("fakeGCS: unsupported %s %s", r.Method, r.URL), http.StatusNotImplemented)
	}
}

func (f *fakeGCS) serveMedia(w http.ResponseWriter, r *http.Request, k string) {
	b := f.objects[k]
	w.Header().Set("X-Goog-Generation", strconv.FormatInt(f.gens[k], 10))
	w.Header().Set("Content-Type", "application/octet-stream")
	if rg := r.Header.Get("Range"); rg != "" {
		var start, end int64
		n, _ := fmt.Sscanf(rg, "bytes=%d-%d", &start, &end)
		if n == 2 && start <= end && start < int64(len(b)) {
			end = min(end, int64(len(b))-1)
			f.ranged++
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(b)))
			w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(b[start : end+1])
			return
		}
		if n == 1 && start < int64(len(b)) { // "bytes=N-"
			f.ranged++
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(b)-1, len(b)))
			w.Header().Set("Content-Length", strconv.Itoa(len(b)-int(start)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(b[start:])
			return
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

func (f *fakeGCS) list(w http.ResponseWriter, r *http.Request, bucket string) {
	prefix := r.URL.Query().Get("prefix")
	var items []map[string]any
	keys := make([]string, 0, len(f.objects))
	for k := range f.objects {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if name, ok := strings.CutPrefix(k, bucket+"/"); ok && strings.HasPrefix(name, prefix) {
			items = append(items, f.attrs(bucket, name))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "storage#objects", "items": items})
}

// upload handles uploadType=multipart (metadata part, then media part).
func (f *fakeGCS) upload(w http.ResponseWriter, r *http.Request, bucket string) {
	if t := r.URL.Query().Get("uploadType"); t != "multipart" {
		http.Error(w, "fakeGCS: uploadType "+t+" unsupported", http.StatusNotImplemented)
		return
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var meta struct{ Name string }
	var body []byte
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(part)
		if i == 0 {
			json.Unmarshal(b, &meta)
		} else {
			body = b
		}
	}
	if n := r.URL.Query().Get("name"); n != "" {
		meta.Name = n
	}
	if !f.generationMatches(w, r, bucket+"/"+meta.Name) {
		return
	}
	writeJSON(w, http.StatusOK, f.put(bucket, meta.Name, body))
}

// generationMatches applies an ifGenerationMatch precondition (0: the
// object must not exist), answering 412 when it fails.
func (f *fakeGCS) generationMatches(w http.ResponseWriter, r *http.Request, k string) bool {
	want := r.URL.Query().Get("ifGenerationMatch")
	if want == "" {
		return true
	}
	gen := int64(0)
	if _, ok := f.objects[k]; ok {
		gen = f.gens[k]
	}
	if strconv.FormatInt(gen, 10) == want {
		return true
	}
	writeJSON(w, http.StatusPreconditionFailed, map[string]any{"error": map[string]any{"code": 412, "message": "Precondition Failed"}})
	return false
}
