package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// Copy makes dst a hard link to src's file, installed by rename like an upload, so it costs no bytes
// and no hashing: every write to the folder replaces a file rather than changing one in place, so the
// two keys never see each other's later writes. Where hard links are refused it copies the bytes.
func (d *Dir) Copy(ctx context.Context, src, dst string) (Object, error) {
	const op = "copy"
	f, _, err := d.openFile(ctx, op, src, "")
	if err != nil {
		return Object{}, err
	}
	defer f.Close()
	obj, err := d.describeOpen(src, f)
	if err != nil {
		return Object{}, d.wrap(op, src, err)
	}
	dp, err := d.path(op, dst)
	if err != nil {
		return Object{}, err
	}
	tmp := filepath.Join(d.tmpDir(), fmt.Sprintf("copy-%d-%d", os.Getpid(), copySeq.Add(1)))
	if err := link(f.Name(), tmp); err != nil { // f.Name() is src's path
		return d.copyBytes(ctx, f, dst)
	}
	// The link names whatever file is at src now; it must be the version opened and described above.
	fi, err1 := f.Stat()
	li, err2 := os.Stat(tmp)
	if err1 != nil || err2 != nil || !os.SameFile(fi, li) {
		_ = os.Remove(tmp)
		return d.copyBytes(ctx, f, dst)
	}
	if err := d.install(tmp, dp, dst, Precondition{}); err != nil {
		_ = os.Remove(tmp)
		return Object{}, d.wrap(op, dst, err)
	}
	d.cacheETag(dst, fi, obj.ETag)
	obj.Key = dst
	return obj, nil
}

// copySeq names Copy's temp links.
var copySeq atomic.Int64

// link is os.Link; tests replace it to take the copying path.
var link = os.Link

// copyBytes is Copy by streaming the open file f to an upload of dst.
func (d *Dir) copyBytes(ctx context.Context, f *os.File, dst string) (Object, error) {
	u, err := d.Create(ctx, dst)
	if err != nil {
		return Object{}, err
	}
	if _, err := io.Copy(u, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		u.Abort()
		return Object{}, err
	}
	return u.Commit()
}
