package pqio

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/parquet-go/parquet-go"
)

// A set is a group of files under one directory that is committed whole or
// not at all: a shard set ("evals/uniform/sample-*"), the pareto outputs, a
// checkpoint with its train log. Its manifest, <dir>/_<set>.manifest.json,
// lists every file with its row count and identity, and readers go through
// it (SetFiles), never through a glob.
//
// The commit protocol, which keeps either the old complete set or the new
// one whatever step a crash interrupts:
//
//  1. Every file of the new set is written to the set's staging directory
//     <dir>/.pqio-tmp-<set>/ under a unique name (a bundle's shard, a
//     SetWriter file). Nothing outside the staging directory changes, so a
//     crash here leaves the old set (the staging directory is an orphan,
//     removed by the next commit or by Recover).
//  2. The new manifest is written atomically (temporary name, rename): this
//     is the commit point. It names each file's final path and its staged
//     path.
//  3. The commit rolls forward: each staged file is renamed to its final
//     path (skipped when the final path already holds that file), then the
//     files of the old set that the new one does not list are removed, then
//     the staging directory.
//
// After a crash in step 3, readers still see the new set complete: a file
// whose final path does not hold the manifest's version is read from its
// staged path (SetFiles does this). Recover, which every command runs on its
// output under the output lock, finishes the roll-forward.
//
// A Parquet file's identity is a random id in its key-value metadata
// (FileIDKey) plus its row count; any other file's is its SHA-256.

// ManifestFormat names the layout of a manifest file.
const ManifestFormat = "attentivenas.Manifest/v1"

// FileIDKey is the key-value metadata key of the random id pqio writes into
// every Parquet file; a manifest lists it to tell this file from an earlier
// file at the same path.
const FileIDKey = "attentivenas.file_id"

// Manifest describes one committed set.
type Manifest struct {
	Format  string            `json:"format"` // ManifestFormat
	Set     string            `json:"set"`    // the set's name
	Commit  string            `json:"commit"` // random id of the commit
	Created time.Time         `json:"created"`
	Files   []ManifestFile    `json:"files"`
	Meta    map[string]string `json:"meta,omitempty"` // lineage and other facts of the writer
}

// ManifestFile is one file of a set. Paths are relative to the manifest's
// directory and use '/'.
type ManifestFile struct {
	Name   string `json:"name"`             // final path
	Staged string `json:"staged"`           // where the file waits until the commit rolls forward
	Schema string `json:"schema,omitempty"` // Parquet: the SchemaKey value
	Rows   int64  `json:"rows"`             // Parquet: rows; -1 for other files
	Bytes  int64  `json:"bytes"`
	ID     string `json:"id,omitempty"`     // Parquet: the FileIDKey value
	SHA256 string `json:"sha256,omitempty"` // other files: the content's hash
}

// Sentinel errors of sets; test with errors.Is.
var (
	// ErrNoManifest: the set has no manifest (never committed, or written
	// by a version of attentivenas without manifests).
	ErrNoManifest = errors.New("no manifest")
	// ErrIncompleteSet: a file the manifest lists is missing or is not the
	// version the manifest names, and its staged copy is gone.
	ErrIncompleteSet = errors.New("incomplete set")
)

// ManifestPath is the manifest of set in dir: <dir>/_<set>.manifest.json.
// The leading underscore keeps it out of pandas/pyarrow dataset discovery,
// and the .json suffix out of "*.parquet" globs.
func ManifestPath(dir, set string) string { return joinPath(dir, "_"+set+".manifest.json") }

// stagingDir is where the files of a commit of set wait: deterministic, so
// that a later commit (or Recover) also removes a crashed one's orphans; the
// leading dot hides it from "dir/*.parquet" and from pyarrow.
func stagingDir(dir, set string) string { return joinPath(dir, ".pqio-tmp-"+set) }

var setName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func checkSetName(set string) error {
	if !setName.MatchString(set) {
		return fmt.Errorf("set name %q: expected letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'", set)
	}
	return nil
}

// checkRelName checks a file name of a set: relative, '/'-separated, no
// "." or ".." element, no hidden element.
func checkRelName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "://") {
		return fmt.Errorf("file name %q: expected a relative path", name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == "" || strings.HasPrefix(el, ".") || strings.HasPrefix(el, "_") {
			return fmt.Errorf("file name %q: empty, hidden or reserved path element %q", name, el)
		}
	}
	return nil
}

// CommitEvent is one step of a commit, as the fault hook sees it.
type CommitEvent struct {
	Dir  string // the set's directory
	Set  string // the set's name
	Step string // "manifest" (the commit point), "rename", "remove" or "clean"
	Path string // the file the step writes, renames to, or removes
}

func (e CommitEvent) String() string { return e.Step + " " + e.Path }

var faultHook atomic.Pointer[func(CommitEvent) error]

// SetFaultHook is a test seam: h (nil removes it) is called before every
// step of every commit in this process, and an error it returns stops the
// commit there, leaving the files exactly as a crash at that step would (a
// commit never cleans up after a failed step). A hook may also kill the
// process. It returns the previous hook.
func SetFaultHook(h func(CommitEvent) error) func(CommitEvent) error {
	var prev *func(CommitEvent) error
	if h == nil {
		prev = faultHook.Swap(nil)
	} else {
		prev = faultHook.Swap(&h)
	}
	if prev == nil {
		return nil
	}
	return *prev
}

func fault(ev CommitEvent) error {
	if h := faultHook.Load(); h != nil {
		if err := (*h)(ev); err != nil {
			return fmt.Errorf("pqio: commit of %s stopped before %s: %w", ManifestPath(ev.Dir, ev.Set), ev, err)
		}
	}
	return nil
}

// readManifest reads the manifest of set in dir; ErrNoManifest if there is
// none.
func (f *fsys) readManifest(ctx context.Context, dir, set string) (Manifest, error) {
	p := ManifestPath(dir, set)
	rc, err := f.fs.OpenRead(ctx, p)
	if err != nil {
		if isNotExist(err) {
			return Manifest{}, fileErr("read", p, ErrNoManifest)
		}
		return Manifest{}, fileErr("read", p, err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err = errors.Join(err, rc.Close()); err != nil {
		if isNotExist(err) {
			return Manifest{}, fileErr("read", p, ErrNoManifest)
		}
		return Manifest{}, fileErr("read", p, err)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fileErr("read", p, fmt.Errorf("not a manifest: %w", err))
	}
	if m.Format != ManifestFormat || m.Set != set || m.Commit == "" {
		return Manifest{}, fileErr("read", p, fmt.Errorf("not a manifest of set %q: format %q, set %q, commit %q (want format %q)",
			set, m.Format, m.Set, m.Commit, ManifestFormat))
	}
	for _, mf := range m.Files {
		if err := errors.Join(checkRelName(mf.Name), checkRelStaged(mf.Staged)); err != nil {
			return Manifest{}, fileErr("read", p, err)
		}
	}
	return m, nil
}

// checkRelStaged checks a staged path: relative, inside a staging directory.
func checkRelStaged(p string) error {
	if strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.Contains(p, "://") || !strings.Contains(p, ".pqio-tmp-") {
		return fmt.Errorf("staged path %q: expected a path inside a .pqio-tmp- directory", p)
	}
	return nil
}

// ReadManifest reads the manifest of set in dir (local or gs://). Errors
// name the file; a missing manifest wraps ErrNoManifest.
func ReadManifest(ctx context.Context, dir, set string) (Manifest, error) {
	f, err := newFsys(ctx, dir)
	if err != nil {
		return Manifest{}, fileErr("read", ManifestPath(dir, set), err)
	}
	m, err := f.readManifest(ctx, dir, set)
	return m, errors.Join(err, f.Close())
}

// Sets lists the sets committed in dir (the names of its manifests),
// sorted. A missing directory has none.
func Sets(ctx context.Context, dir string) ([]string, error) {
	paths, err := Glob(ctx, joinPath(dir, "_*.manifest.json"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range paths {
		_, base := splitPath(p)
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(base, "_"), ".manifest.json"))
	}
	return out, nil
}

// SetFiles returns the paths to read the files of the committed set of dir,
// in manifest order, and the manifest. Each file is checked against the
// manifest (its id and row count for Parquet, its hash otherwise); a file
// whose final path holds another version is read from its staged path when
// the commit has not finished rolling forward. Otherwise the set is
// incomplete and the error (wrapping ErrIncompleteSet) names the file, what
// the manifest expects and what was found. A set without a manifest is an
// error wrapping ErrNoManifest.
func SetFiles(ctx context.Context, dir, set string) ([]string, Manifest, error) {
	f, err := newFsys(ctx, dir)
	if err != nil {
		return nil, Manifest{}, fileErr("read", ManifestPath(dir, set), err)
	}
	defer f.Close()
	m, err := f.readManifest(ctx, dir, set)
	if err != nil {
		return nil, Manifest{}, err
	}
	paths := make([]string, len(m.Files))
	for i, mf := range m.Files {
		final := joinPath(dir, mf.Name)
		why, err := f.matches(ctx, final, mf)
		if err != nil {
			return nil, m, err
		}
		if why == "" {
			paths[i] = final
			continue
		}
		staged := joinPath(dir, mf.Staged)
		swhy, err := f.matches(ctx, staged, mf)
		if err != nil {
			return nil, m, err
		}
		if swhy != "" {
			return nil, m, fileErr("read", final, fmt.Errorf("%w: %s (commit %s, %s) lists it with %s; the file %s, and its staged copy %s: re-run the command that writes this set",
				ErrIncompleteSet, ManifestPath(dir, set), m.Commit, m.Created.Format(time.RFC3339), describe(mf), why, swhy))
		}
		paths[i] = staged
	}
	return paths, m, nil
}

func describe(mf ManifestFile) string {
	if mf.Rows >= 0 {
		return fmt.Sprintf("file id %s and %d rows", mf.ID, mf.Rows)
	}
	return fmt.Sprintf("%d bytes of SHA-256 %.12s", mf.Bytes, mf.SHA256)
}

// matches returns "" when p holds the file mf describes, else what p holds
// instead. Only unexpected filesystem errors are errors.
func (f *fsys) matches(ctx context.Context, p string, mf ManifestFile) (string, error) {
	if mf.Rows < 0 {
		sum, n, err := f.hash(ctx, p)
		switch {
		case isNotExist(err):
			return "is missing", nil
		case err != nil:
			return "", fileErr("read", p, err)
		case sum != mf.SHA256 || n != mf.Bytes:
			return fmt.Sprintf("has %d bytes of SHA-256 %.12s", n, sum), nil
		}
		return "", nil
	}
	info, err := f.footer(ctx, p)
	switch {
	case isNotExist(err):
		return "is missing", nil
	case errors.Is(err, ErrNotParquet):
		return "is not a readable Parquet file", nil
	case err != nil:
		return "", err
	case info.ID != mf.ID || info.Rows != mf.Rows || info.Schema != mf.Schema:
		return fmt.Sprintf("has file id %s, %d rows and schema %q", cmp.Or(info.ID, "(none)"), info.Rows, info.Schema), nil
	}
	return "", nil
}

// fileInfo is what a manifest records about a Parquet file.
type fileInfo struct {
	ID, Schema  string
	Rows, Bytes int64
}

// footer reads a Parquet file's identity from its footer.
func (f *fsys) footer(ctx context.Context, p string) (info fileInfo, err error) {
	ra, size, c, err := f.openReaderAt(ctx, p)
	if err != nil {
		return fileInfo{}, err
	}
	defer func() {
		if r := recover(); r != nil { // parquet-go may panic on corrupt input
			err = fileErr("open", p, fmt.Errorf("%w: %v", ErrNotParquet, r))
		}
		err = errors.Join(err, c.Close())
	}()
	pf, err := parquet.OpenFile(ra, size, parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		return fileInfo{}, fileErr("open", p, fmt.Errorf("%w: %w", ErrNotParquet, err))
	}
	info = fileInfo{Rows: pf.NumRows(), Bytes: size}
	for _, kv := range pf.Metadata().KeyValueMetadata {
		switch kv.Key {
		case FileIDKey:
			info.ID = kv.Value
		case SchemaKey:
			info.Schema = kv.Value
		}
	}
	return info, nil
}

// hash returns the SHA-256 and size of a file.
func (f *fsys) hash(ctx context.Context, p string) (string, int64, error) {
	rc, err := f.fs.OpenRead(ctx, p)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err = errors.Join(err, rc.Close()); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// describeStaged returns the manifest entry of a staged file at final path
// name.
func (f *fsys) describeStaged(ctx context.Context, dir, name, staged string, parquetFile bool) (ManifestFile, error) {
	mf := ManifestFile{Name: name, Staged: strings.TrimPrefix(staged, strings.TrimSuffix(dir, "/")+"/"), Rows: -1}
	if mf.Staged == staged {
		return mf, fmt.Errorf("staged file %s is not under %s", staged, dir)
	}
	if parquetFile {
		info, err := f.footer(ctx, staged)
		if err != nil {
			return mf, err
		}
		if info.ID == "" {
			return mf, fileErr("commit", staged, fmt.Errorf("no %q metadata: not written by pqio", FileIDKey))
		}
		mf.ID, mf.Schema, mf.Rows, mf.Bytes = info.ID, info.Schema, info.Rows, info.Bytes
		return mf, nil
	}
	sum, n, err := f.hash(ctx, staged)
	if err != nil {
		return mf, fileErr("commit", staged, err)
	}
	mf.SHA256, mf.Bytes = sum, n
	return mf, nil
}

// commit writes m as the manifest of its set in dir (the commit point) and
// rolls it forward. prev is the set's previous manifest (nil if none):
// unless keepOld, its files that m does not list are removed. Every commit
// also removes the shards of its shard prefixes that m does not list. A
// retry after a failure is safe.
func (f *fsys) commit(ctx context.Context, dir string, m Manifest, prev *Manifest, keepOld bool) error {
	p := ManifestPath(dir, m.Set)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fileErr("commit", p, err)
	}
	if err := fault(CommitEvent{Dir: dir, Set: m.Set, Step: "manifest", Path: p}); err != nil {
		return err
	}
	if err := f.writeAtomic(ctx, p, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
		return err
	}
	return f.rollForward(ctx, dir, m, prev, keepOld)
}

// rollForward moves the staged files of a committed manifest to their final
// paths and removes what the set no longer holds.
func (f *fsys) rollForward(ctx context.Context, dir string, m Manifest, prev *Manifest, keepOld bool) error {
	keep := map[string]bool{}
	for _, mf := range m.Files {
		final, staged := joinPath(dir, mf.Name), joinPath(dir, mf.Staged)
		keep[final] = true
		why, err := f.matches(ctx, final, mf)
		if err != nil {
			return err
		}
		if why == "" {
			continue // renamed by an earlier attempt
		}
		if err := fault(CommitEvent{Dir: dir, Set: m.Set, Step: "rename", Path: final}); err != nil {
			return err
		}
		if err := f.mkdirFor(final); err != nil {
			return fileErr("commit", final, err)
		}
		if err := filesystem.Rename(ctx, f.fs, staged, final); err != nil {
			if isNotExist(err) {
				return fileErr("commit", final, fmt.Errorf("%w: the staged file %s is missing and %s %s", ErrIncompleteSet, staged, final, why))
			}
			return fileErr("commit", final, fmt.Errorf("rename %s: %w", staged, err))
		}
	}
	var stale []string
	if prev != nil && !keepOld {
		for _, mf := range prev.Files {
			if p := joinPath(dir, mf.Name); !keep[p] {
				stale = append(stale, p)
			}
		}
	}
	for _, prefix := range shardPrefixes(m) {
		pat := shardPattern(lastElem(prefix))
		listed, err := f.list(ctx, joinPath(dir, prefix+"-*-of-*.parquet"))
		if err != nil {
			return fileErr("commit", dir, err)
		}
		for _, p := range listed {
			if _, base := splitPath(p); pat.MatchString(base) && !keep[p] {
				stale = append(stale, p)
			}
		}
	}
	slices.Sort(stale)
	for _, p := range slices.Compact(stale) {
		if err := fault(CommitEvent{Dir: dir, Set: m.Set, Step: "remove", Path: p}); err != nil {
			return err
		}
		if err := f.removeIfExists(ctx, p); err != nil {
			return fileErr("commit", p, err)
		}
		staleRemoved.Inc(ctx, 1)
	}
	sd := stagingDir(dir, m.Set)
	if err := fault(CommitEvent{Dir: dir, Set: m.Set, Step: "clean", Path: sd}); err != nil {
		return err
	}
	if err := f.removeDir(ctx, sd); err != nil {
		return fileErr("commit", sd, err)
	}
	return nil
}

// mkdirFor creates the directory of a local file (object stores have
// none).
func (f *fsys) mkdirFor(p string) error {
	if f.scheme != "" {
		return nil
	}
	dir, _ := splitPath(p)
	if dir == "" {
		return nil
	}
	return os.MkdirAll(dir, 0o755)
}

var shardFile = regexp.MustCompile(`^(.*)-[0-9]{5,}-of-[0-9]{5,}\.parquet$`)

// shardPrefixes returns the prefixes of the shard files m lists (relative
// paths such as "sample" or "examples/train").
func shardPrefixes(m Manifest) []string {
	var out []string
	for _, mf := range m.Files {
		if s := shardFile.FindStringSubmatch(mf.Name); s != nil {
			out = append(out, s[1])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func lastElem(p string) string {
	_, base := splitPath(p)
	return base
}

func newCommitID() string { return randomID() + randomID()[:8] }

// SetWriter writes the files of one set outside Beam (a checkpoint and its
// train log, a report's files) and commits them together: see the protocol
// above. Create it with NewSetWriter, stage each file with WriteSetFile or
// WriteStream, then call Commit. A SetWriter is not safe for concurrent use.
type SetWriter struct {
	dir, set string
	fs       *fsys
	id       string
	keepOld  bool
	meta     map[string]string
	files    []ManifestFile
	names    map[string]bool
	done     bool
}

// NewSetWriter starts a commit of set in dir (local or gs://). The set's
// name is a plain file name. keepOld keeps the files of the previous commit
// that the new one does not list (older checkpoints); otherwise the commit
// removes them. meta is recorded in the manifest.
func NewSetWriter(ctx context.Context, dir, set string, keepOld bool, meta map[string]string) (*SetWriter, error) {
	if err := checkSetName(set); err != nil {
		return nil, fileErr("commit", ManifestPath(dir, set), err)
	}
	f, err := newFsys(ctx, dir)
	if err != nil {
		return nil, fileErr("commit", ManifestPath(dir, set), err)
	}
	return &SetWriter{dir: dir, set: set, fs: f, id: newCommitID(), keepOld: keepOld, meta: clone(meta), names: map[string]bool{}}, nil
}

// stagedPath returns where file name of this commit waits: a flat name in
// the staging directory ("/" becomes "~").
func (w *SetWriter) stagedPath(name string) string {
	return joinPath(stagingDir(w.dir, w.set), w.id+"-"+strings.ReplaceAll(name, "/", "~"))
}

func (w *SetWriter) add(name string) (string, error) {
	if w.done {
		return "", fmt.Errorf("pqio: set %s: already committed", ManifestPath(w.dir, w.set))
	}
	if err := checkRelName(name); err != nil {
		return "", fileErr("commit", ManifestPath(w.dir, w.set), err)
	}
	if w.names[name] {
		return "", fileErr("commit", ManifestPath(w.dir, w.set), fmt.Errorf("file %q staged twice", name))
	}
	return w.stagedPath(name), nil
}

// WriteSetFile stages rows as the Parquet file name (relative to the set's
// directory, e.g. "checkpoints/epoch-0002.parquet") of w's commit, written
// as WriteFile writes.
func WriteSetFile[T Schema](ctx context.Context, w *SetWriter, name string, rows []T, opts ...Option) error {
	staged, err := w.add(name)
	if err != nil {
		return err
	}
	if err := WriteFile(ctx, staged, rows, opts...); err != nil {
		return err
	}
	mf, err := w.fs.describeStaged(ctx, w.dir, name, staged, true)
	if err != nil {
		return err
	}
	w.files, w.names[name] = append(w.files, mf), true
	return nil
}

// WriteStream stages a non-Parquet file (a report, a JSON description) as
// name of w's commit; write receives its contents' writer.
func (w *SetWriter) WriteStream(ctx context.Context, name string, write func(io.Writer) error) error {
	staged, err := w.add(name)
	if err != nil {
		return err
	}
	if err := w.fs.writeAtomic(ctx, staged, write); err != nil {
		return err
	}
	mf, err := w.fs.describeStaged(ctx, w.dir, name, staged, false)
	if err != nil {
		return err
	}
	w.files, w.names[name] = append(w.files, mf), true
	return nil
}

// Commit commits the staged files as the set and returns their final paths
// in the order they were staged. After an error the set is the old one or
// the new one, never a mix (see the protocol); retrying the whole write is
// safe.
func (w *SetWriter) Commit(ctx context.Context) ([]string, error) {
	if w.done {
		return nil, fmt.Errorf("pqio: set %s: already committed", ManifestPath(w.dir, w.set))
	}
	w.done = true
	defer w.fs.Close()
	var prev *Manifest
	switch pm, err := w.fs.readManifest(ctx, w.dir, w.set); {
	case err == nil:
		prev = &pm
	case !errors.Is(err, ErrNoManifest):
		// An unreadable previous manifest must not stop the new commit,
		// which replaces it; its files are then not known to be stale.
	}
	m := Manifest{Format: ManifestFormat, Set: w.set, Commit: w.id, Created: time.Now().UTC().Truncate(time.Second),
		Files: w.files, Meta: w.meta}
	if err := w.fs.commit(ctx, w.dir, m, prev, w.keepOld); err != nil {
		return nil, err
	}
	paths := make([]string, len(w.files))
	for i, mf := range w.files {
		paths[i] = joinPath(w.dir, mf.Name)
	}
	return paths, nil
}

// Abort removes what w staged; call it when the set will not be
// committed.
func (w *SetWriter) Abort(ctx context.Context) error {
	if w.done {
		return nil
	}
	w.done = true
	var err error
	for _, mf := range w.files {
		err = errors.Join(err, w.fs.removeIfExists(ctx, joinPath(w.dir, mf.Staged)))
	}
	return errors.Join(err, w.fs.Close())
}

// FileID returns the id pqio wrote into a Parquet file's metadata
// (FileIDKey); "" for a file written by another tool.
func FileID(ctx context.Context, path string) (string, error) {
	f, err := newFsys(ctx, path)
	if err != nil {
		return "", fileErr("open", path, err)
	}
	info, err := f.footer(ctx, path)
	return info.ID, errors.Join(err, f.Close())
}
