package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// metaDir is the hidden folder under a Dir's root that holds what is not an object: temp files of
// uploads in progress and the ETag cache. Keeping both in one folder of the same tree keeps renames
// atomic (same file system) and lets List skip a single name.
const metaDir = ".store"

// staleTempAge is how old a temp file must be before NewDir removes it: older than any upload still
// running, so only leftovers of killed processes go.
const staleTempAge = 24 * time.Hour

// Dir is a Bucket backed by a local folder, for `settle run` and tests: key "a/b.csv" is the file
// root/a/b.csv, so users can read the results with ordinary tools and drop files in by hand.
//
// ETags are what S3 reports for a single-part upload (the hex MD5), so the same file gets the
// same execution name locally and in the cloud. They are computed while writing and cached under
// root/.store/etags, keyed by file size and modification time, so Head does not reread a large file
// and a file replaced by hand is hashed again.
//
// Writes are atomic (temp file, fsync, rename), so a reader sees the old object or the new one, never
// part of one; WithoutSync leaves out the fsync for a bucket of copies. Every change of a key (upload,
// copy, delete) happens under a lock on the key (an flock, LockFileEx on Windows, on one of 256 files
// under root/.store/locks), so a conditional write (PutIf, DeleteIf) checks and replaces the object with
// no other writer in between, as S3 does. A Dir is safe for concurrent use, also by several processes on
// the same folder (on unix and Windows; elsewhere only within one process).
// Unlike S3, a folder cannot hold both an object "a" and an object "a/b": such a write fails with
// ErrInvalidKey.
type Dir struct {
	name   string
	root   string
	noSync bool
}

// DirOption tunes a Dir.
type DirOption func(*Dir)

// WithoutSync skips the fsync before each commit's rename: for a bucket whose objects are copies of files
// kept elsewhere (settle run's raw bucket holds copies of the reports it was given), where a crash costs
// nothing that running again does not restore. Writes stay atomic for readers.
func WithoutSync() DirOption { return func(d *Dir) { d.noSync = true } }

var _ Bucket = (*Dir)(nil)

// NewDir opens (creating it when missing) the folder root as the bucket called name, and removes
// temp files that interrupted uploads left behind a day or more ago.
func NewDir(name, root string, opts ...DirOption) (*Dir, error) {
	if name == "" {
		return nil, errors.New("new dir bucket: empty name")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("new dir bucket %s: %w", name, err)
	}
	d := &Dir{name: name, root: abs}
	for _, o := range opts {
		o(d)
	}
	for _, dir := range []string{d.tmpDir(), d.etagDir(), d.lockDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("new dir bucket %s: %w", name, err)
		}
	}
	d.removeStaleTemps()
	return d, nil
}

// Name returns the bucket name the folder answers to.
func (d *Dir) Name() string { return d.name }

// Root returns the folder's absolute path, for messages that tell users where to look.
func (d *Dir) Root() string { return d.root }

func (d *Dir) tmpDir() string  { return filepath.Join(d.root, metaDir, "tmp") }
func (d *Dir) etagDir() string { return filepath.Join(d.root, metaDir, "etags") }
func (d *Dir) lockDir() string { return filepath.Join(d.root, metaDir, "locks") }

func (d *Dir) removeStaleTemps() {
	entries, err := os.ReadDir(d.tmpDir())
	if err != nil {
		return // only housekeeping
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTempAge {
			_ = os.Remove(filepath.Join(d.tmpDir(), e.Name()))
		}
	}
}

// path maps key to its file, refusing keys that would leave the folder, alias another key (".",
// empty segments) or land in the hidden folder.
func (d *Dir) path(op, key string) (string, error) {
	if reason := dirKeyProblem(key); reason != "" {
		return "", fmt.Errorf("%s %s: %w %q: %s", op, d.name, ErrInvalidKey, key, reason)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

func dirKeyProblem(key string) string {
	if reason := CheckKey(key); reason != "" {
		return reason
	}
	switch {
	case strings.HasPrefix(key, "/"):
		return "absolute (keys have no leading slash)"
	case strings.ContainsRune(key, '\\'):
		return "contains a backslash"
	case strings.ContainsRune(key, 0):
		return "contains a NUL byte"
	}
	for i, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return "empty path segment"
		case seg == "." || seg == "..":
			return fmt.Sprintf("%q segment", seg)
		case i == 0 && seg == metaDir:
			return fmt.Sprintf("%q is reserved for the store's own files", metaDir)
		}
	}
	if !filepath.IsLocal(filepath.FromSlash(key)) {
		return "not a local path on this system" // e.g. a reserved device name on Windows
	}
	return ""
}

func (d *Dir) notFound(op, key string) error {
	return fmt.Errorf("%s %s/%s: %w", op, d.name, key, ErrNotFound)
}

func (d *Dir) wrap(op, key string, err error) error {
	return fmt.Errorf("%s %s/%s: %w", op, d.name, key, err)
}

// isMissing reports whether err from opening or stating a key's file means there is no such object:
// also when a path segment is a file (key "a/b" while "a" is an object) or a segment is longer than
// the file system allows (no such file can exist).
func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG)
}
