package store

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// List returns the objects under prefix in key order (byte order, as S3 lists). It walks only the
// folder the prefix names, and leaves out the hidden folder and files whose names are not valid keys.
func (d *Dir) List(ctx context.Context, prefix string) ([]Object, error) {
	const op = "list"
	start := d.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		if dirKeyProblem(prefix[:i]) != "" {
			return nil, nil // no valid key can start with this prefix
		}
		start = filepath.Join(d.root, filepath.FromSlash(prefix[:i]))
	}
	type found struct {
		key, path string
	}
	var files []found
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if isMissing(err) {
				return nil // the prefix's folder does not exist, or went away while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil || rel == "." {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if key == metaDir || !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(key, prefix) && dirKeyProblem(key) == "" {
			files = append(files, found{key, p})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", op, d.name, prefix, err)
	}
	slices.SortFunc(files, func(a, b found) int { return strings.Compare(a.key, b.key) })
	objs := make([]Object, 0, len(files))
	for _, f := range files {
		fi, err := os.Stat(f.path) // follows a symlink a user put there
		if isMissing(err) || err == nil && !fi.Mode().IsRegular() {
			continue // deleted since the walk, or not a file
		}
		var obj Object
		if err == nil {
			obj, err = d.describe(f.key, f.path, fi)
		}
		if isMissing(err) {
			continue
		}
		if err != nil {
			return nil, d.wrap(op, f.key, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}
