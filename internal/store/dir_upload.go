package store

import (
	"bufio"
	"context"
	"crypto/md5"
	"errors"
	"io"
	"io/fs"
	"os"
)

// Create starts an atomic write of key: bytes go to a temp file under root/.store/tmp and are hashed
// on the way, and Commit renames the file into place.
func (d *Dir) Create(ctx context.Context, key string) (Upload, error) {
	const op = "create"
	if err := ctx.Err(); err != nil {
		return nil, d.wrap(op, key, err)
	}
	p, err := d.path(op, key)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(d.tmpDir(), "upload-*")
	if errors.Is(err, fs.ErrNotExist) {
		// The hidden folder was removed by hand; put it back rather than fail every write.
		if err = os.MkdirAll(d.tmpDir(), 0o755); err == nil {
			f, err = os.CreateTemp(d.tmpDir(), "upload-*")
		}
	}
	if err != nil {
		return nil, d.wrap(op, key, err)
	}
	u := &dirUpload{d: d, ctx: ctx, key: key, path: p, f: f, h: newBackgroundHash()}
	u.w = bufio.NewWriterSize(io.MultiWriter(f, u.h), 256<<10)
	return u, nil
}

// CreateIf is Create with a precondition checked, under the key's lock, when the upload commits: with
// IfAbsent, of two uploads racing for one key (two processes on one data folder) exactly one commits and
// the other's Commit fails with ErrPreconditionFailed, changing nothing.
func (d *Dir) CreateIf(ctx context.Context, key string, pre Precondition) (Upload, error) {
	up, err := d.Create(ctx, key)
	if err != nil {
		return nil, err
	}
	up.(*dirUpload).pre = pre
	return up, nil
}

// dirUpload is an object being written to a temp file. Like the S3 upload it is for one goroutine.
type dirUpload struct {
	d    *Dir
	ctx  context.Context
	key  string
	path string
	f    *os.File
	h    *backgroundHash
	w    *bufio.Writer
	size int64
	done bool
	pre  Precondition // checked under the key's lock at Commit
}

func (u *dirUpload) Write(p []byte) (int, error) {
	const op = "write"
	if u.done {
		return 0, u.d.wrap(op, u.key, ErrUploadClosed)
	}
	if err := u.ctx.Err(); err != nil {
		return 0, u.d.wrap(op, u.key, err)
	}
	n, err := u.w.Write(p)
	u.size += int64(n)
	if err != nil {
		return n, u.d.wrap(op, u.key, err)
	}
	return n, nil
}

// Commit flushes and fsyncs the temp file, then renames it over key. On failure the temp file is
// removed and nothing changes at key.
func (u *dirUpload) Commit() (Object, error) {
	const op = "commit"
	if u.done {
		return Object{}, u.d.wrap(op, u.key, ErrUploadClosed)
	}
	u.done = true
	obj, err := u.commit()
	if err != nil {
		u.h.hexSum() // ends the hashing goroutine
		u.f.Close()
		_ = os.Remove(u.f.Name())
		return Object{}, u.d.wrap(op, u.key, err)
	}
	return obj, nil
}

func (u *dirUpload) commit() (Object, error) {
	if err := u.ctx.Err(); err != nil {
		return Object{}, err
	}
	if err := u.w.Flush(); err != nil {
		return Object{}, err
	}
	if !u.d.noSync {
		if err := u.f.Sync(); err != nil {
			return Object{}, err
		}
	}
	// Temp files are created private; an object is an ordinary file that other tools may read.
	if err := u.f.Chmod(0o644); err != nil {
		return Object{}, err
	}
	// The temp file's stat is the committed version's: rename keeps size and mtime, and taking it
	// here rather than after the rename cannot pick up someone else's file.
	fi, err := u.f.Stat()
	if err != nil {
		return Object{}, err
	}
	if err := u.f.Close(); err != nil {
		return Object{}, err
	}
	if err := u.install(); err != nil {
		return Object{}, err
	}
	etag := u.h.hexSum()
	u.d.cacheETag(u.key, fi, etag)
	return Object{Key: u.key, Size: u.size, ETag: etag, Modified: fi.ModTime()}, nil
}

// install renames the temp file to the key's path, creating its folders.
func (u *dirUpload) install() error { return u.d.install(u.f.Name(), u.path, u.key, u.pre) }

// Abort removes the temp file; after Commit it does nothing.
func (u *dirUpload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	u.h.hexSum() // ends the hashing goroutine
	u.f.Close()
	if err := os.Remove(u.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return u.d.wrap("abort", u.key, err)
	}
	return nil
}

// backgroundHash computes an upload's MD5 on its own goroutine, so that hashing overlaps the writes and
// the fsync instead of adding to them (MD5 runs at about 600 MB/s, a local disk's writes faster). Write
// copies p, since the caller may reuse it; at most four 256 KiB buffers are in flight.
type backgroundHash struct {
	ch   chan []byte
	free chan []byte
	sum  chan string
	etag string
}

func newBackgroundHash() *backgroundHash {
	b := &backgroundHash{ch: make(chan []byte, 4), free: make(chan []byte, 4), sum: make(chan string, 1)}
	ch := b.ch // hexSum clears the field
	go func() {
		h := md5.New()
		for p := range ch {
			h.Write(p)
			select {
			case b.free <- p[:0]:
			default:
			}
		}
		b.sum <- hexMD5(h)
	}()
	return b
}

func (b *backgroundHash) Write(p []byte) (int, error) {
	var buf []byte
	select {
	case buf = <-b.free:
	default:
	}
	b.ch <- append(buf, p...)
	return len(p), nil
}

// hexSum ends the hashing and returns the hex MD5 of everything written. Later calls return
// the same value.
func (b *backgroundHash) hexSum() string {
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
		b.etag = <-b.sum
	}
	return b.etag
}
