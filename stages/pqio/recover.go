package pqio

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// RecoverDepth is how many directory levels below an output root Recover
// looks at: the deepest artifact is runs/<run>/checkpoints/<file>.
const RecoverDepth = 3

// Recover finishes and cleans what interrupted jobs left under root (local
// or gs://), up to RecoverDepth levels down:
//
//   - every committed set whose files still wait in its staging directory
//     is rolled forward (see the commit protocol in commit.go), so that the
//     final paths hold the set the manifest names;
//   - staging directories ".pqio-tmp-<set>" (shards and files of commits
//     that never reached their commit point) are removed;
//   - temporary files ".<name>.tmp-<random>" of interrupted atomic writes
//     are removed.
//
// It returns one line per action taken, for the caller to report. Run it
// only while holding root's Lock, when no job writes under root: it deletes
// temporaries a running job would still need.
func Recover(ctx context.Context, root string) ([]string, error) {
	f, err := newFsys(ctx, root)
	if err != nil {
		return nil, fileErr("recover", root, err)
	}
	defer f.Close()
	var done []string
	levels := []string{root}
	for range RecoverDepth {
		levels = append(levels, joinPath(levels[len(levels)-1], "*"))
	}
	// 1. Roll forward committed sets.
	for _, lvl := range levels[:RecoverDepth] {
		manifests, err := f.list(ctx, joinPath(lvl, "_*.manifest.json"))
		if err != nil {
			return done, fileErr("recover", root, err)
		}
		for _, p := range manifests {
			if isHidden(p, root) {
				continue
			}
			dir, base := splitPath(p)
			set := strings.TrimSuffix(strings.TrimPrefix(base, "_"), ".manifest.json")
			m, err := f.readManifest(ctx, dir, set)
			if err != nil {
				return done, err
			}
			pending := 0
			for _, mf := range m.Files {
				why, err := f.matches(ctx, joinPath(dir, mf.Name), mf)
				if err != nil {
					return done, err
				}
				if why != "" {
					pending++
				}
			}
			if pending == 0 {
				continue
			}
			if err := f.rollForward(ctx, dir, m, nil, true); err != nil {
				return done, fmt.Errorf("pqio: finishing the interrupted commit of %s: %w", p, err)
			}
			done = append(done, fmt.Sprintf("finished the interrupted commit of %s (%d of %d files moved into place)", p, pending, len(m.Files)))
		}
	}
	// 2. Orphan staging directories and temporary files.
	var orphans []string
	for i, lvl := range levels {
		if i < RecoverDepth {
			dirs, err := f.list(ctx, joinPath(lvl, ".pqio-tmp-*"))
			if err != nil {
				return done, fileErr("recover", root, err)
			}
			for _, d := range dirs {
				if err := f.removeDir(ctx, d); err != nil {
					return done, fileErr("recover", d, err)
				}
				orphans = append(orphans, d)
			}
		}
		tmps, err := f.list(ctx, joinPath(lvl, ".*.tmp-*"))
		if err != nil {
			return done, fileErr("recover", root, err)
		}
		for _, p := range tmps {
			if err := f.removeIfExists(ctx, p); err != nil {
				return done, fileErr("recover", p, err)
			}
			orphans = append(orphans, p)
		}
	}
	if len(orphans) > 0 {
		slices.Sort(orphans)
		done = append(done, fmt.Sprintf("removed %d temporary file(s) or staging directories of interrupted jobs: %s",
			len(orphans), strings.Join(orphans, ", ")))
	}
	return done, nil
}

// isHidden reports whether p has a hidden element below root (a staging
// directory's contents are not sets).
func isHidden(p, root string) bool {
	rel := strings.TrimPrefix(p, strings.TrimSuffix(root, "/")+"/")
	dir, _ := splitPath(rel)
	for _, el := range strings.Split(dir, "/") {
		if strings.HasPrefix(el, ".") {
			return true
		}
	}
	return false
}

// FinishCommit finishes the roll-forward of the committed set of dir if a
// crash interrupted it (see the commit protocol), so that every file is at
// its final path; a set without a manifest is left alone. Only the set's
// writer (holding the output) may call it.
func FinishCommit(ctx context.Context, dir, set string) error {
	f, err := newFsys(ctx, dir)
	if err != nil {
		return fileErr("recover", ManifestPath(dir, set), err)
	}
	defer f.Close()
	m, err := f.readManifest(ctx, dir, set)
	if errors.Is(err, ErrNoManifest) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, mf := range m.Files {
		why, err := f.matches(ctx, joinPath(dir, mf.Name), mf)
		if err != nil {
			return err
		}
		if why != "" {
			return f.rollForward(ctx, dir, m, nil, true)
		}
	}
	return nil
}
