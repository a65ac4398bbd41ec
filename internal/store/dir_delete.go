package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Delete removes key and then the folders it leaves empty, up to the root, so the tree users browse
// does not fill with empty folders.
func (d *Dir) Delete(ctx context.Context, key string) error {
	return d.remove(ctx, "delete", key, "")
}

// DeleteIf removes key when its ETag (the MD5 of the file, checked under the key's lock) is etag.
func (d *Dir) DeleteIf(ctx context.Context, key, etag string) error {
	if etag == "" {
		return fmt.Errorf("delete if %s/%s: no etag given", d.name, key)
	}
	return d.remove(ctx, "delete if", key, etag)
}

// remove is Delete, or DeleteIf when ifMatch is set.
func (d *Dir) remove(ctx context.Context, op, key, ifMatch string) error {
	if err := ctx.Err(); err != nil {
		return d.wrap(op, key, err)
	}
	p, err := d.path(op, key)
	if err != nil {
		return err
	}
	unlock, err := d.lock(key)
	if err != nil {
		return d.wrap(op, key, err)
	}
	defer unlock()
	fi, err := os.Lstat(p)
	if isMissing(err) || err == nil && fi.IsDir() {
		if ifMatch != "" {
			return d.notFound(op, key)
		}
		return nil // no object by that name
	}
	if err != nil {
		return d.wrap(op, key, err)
	}
	if ifMatch != "" {
		if err := d.checkLocked(p, key, Precondition{IfMatch: ifMatch}); err != nil {
			return d.wrap(op, key, err)
		}
	}
	if err := os.Remove(p); err != nil && !isMissing(err) {
		return d.wrap(op, key, err)
	}
	_ = os.Remove(d.etagPath(key))
	for dir := filepath.Dir(p); dir != d.root && strings.HasPrefix(dir, d.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty (or already gone): the folders above are not empty either
		}
	}
	return nil
}
