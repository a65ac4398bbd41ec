package store

// Committing a write: the precondition check and the rename into place, under the key's lock, that
// uploads (Put, PutIf, Create) and Copy share.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Put writes data to key atomically.
func (d *Dir) Put(ctx context.Context, key string, data []byte) (Object, error) {
	return d.PutIf(ctx, key, data, Precondition{})
}

// PutIf writes data to key when pre holds. The data goes to a temp file first; the check and the
// rename happen under the key's lock, against the MD5 of the file then at the key (not the ETag
// cache, which a hand-made copy with the same size and time could fool).
func (d *Dir) PutIf(ctx context.Context, key string, data []byte, pre Precondition) (Object, error) {
	up, err := d.Create(ctx, key)
	if err != nil {
		return Object{}, err
	}
	u := up.(*dirUpload)
	u.pre = pre
	if _, err := u.Write(data); err != nil {
		u.Abort()
		return Object{}, err
	}
	return u.Commit()
}

// checkLocked tells whether pre holds for the object at path; the caller holds key's lock.
func (d *Dir) checkLocked(path, key string, pre Precondition) error {
	if pre == (Precondition{}) {
		return nil
	}
	etag, err := fileETag(path)
	switch {
	case isMissing(err):
		if pre.IfAbsent {
			return nil
		}
		return fmt.Errorf("%w (want %s, have no object)", ErrPreconditionFailed, pre.IfMatch)
	case err != nil:
		return err
	case pre.IfAbsent:
		return fmt.Errorf("%w (want no object, have %s)", ErrPreconditionFailed, etag)
	case etag != UnquoteETag(pre.IfMatch):
		return fmt.Errorf("%w (want %s, have %s)", ErrPreconditionFailed, pre.IfMatch, etag)
	}
	return nil
}

// install renames the temp file tmp to path, key's path, creating its folders, under the key's lock
// and when pre holds. A concurrent Delete may remove a folder it just created (it prunes empty ones),
// so a vanished folder is retried.
func (d *Dir) install(tmp, path, key string, pre Precondition) error {
	unlock, err := d.lock(key)
	if err != nil {
		return err
	}
	defer unlock()
	if err := d.checkLocked(path, key, pre); err != nil {
		return err
	}
	// The ETag cache entry of the version being replaced must not outlive it: a new file of the same
	// size written within the file system's timestamp granularity would otherwise inherit it.
	_ = os.Remove(d.etagPath(key))
	dir := filepath.Dir(path)
	for attempt := 0; ; attempt++ {
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = os.Rename(tmp, path)
		}
		switch {
		case err == nil:
			if !d.noSync {
				syncDir(dir)
			}
			return nil
		case errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST) || isDir(path):
			// MkdirAll also reports EEXIST when a concurrent Delete removed a folder between its
			// mkdir and its check: only a real file-versus-folder clash is the key's fault.
			if d.nameClash(path) || attempt >= 10 {
				return fmt.Errorf("%w %q: a file and a folder cannot share a name in a local bucket", ErrInvalidKey, key)
			}
			continue
		case errors.Is(err, syscall.ENAMETOOLONG):
			return fmt.Errorf("%w %q: a path segment is too long for this file system", ErrInvalidKey, key)
		case errors.Is(err, fs.ErrNotExist) && attempt < 10:
			continue
		default:
			return err
		}
	}
}

// nameClash reports whether path is a folder or one of its folders below the root is a file.
func (d *Dir) nameClash(path string) bool {
	if isDir(path) {
		return true
	}
	for p := filepath.Dir(path); len(p) > len(d.root); p = filepath.Dir(p) {
		if fi, err := os.Lstat(p); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

func isDir(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}

// syncDir makes a rename durable: the new directory entry is only on disk once the folder is synced.
// Best effort, since some systems (Windows) cannot sync a folder.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		f.Close()
	}
}
