package store

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// Head describes key; it reads the file only when the ETag cache does not match it.
func (d *Dir) Head(ctx context.Context, key string) (Object, error) {
	const op = "head"
	if err := ctx.Err(); err != nil {
		return Object{}, d.wrap(op, key, err)
	}
	p, err := d.path(op, key)
	if err != nil {
		return Object{}, err
	}
	fi, err := os.Stat(p)
	if isMissing(err) || err == nil && !fi.Mode().IsRegular() {
		return Object{}, d.notFound(op, key)
	}
	if err != nil {
		return Object{}, d.wrap(op, key, err)
	}
	obj, err := d.describe(key, p, fi)
	if isMissing(err) {
		return Object{}, d.notFound(op, key) // replaced between stat and hashing
	}
	if err != nil {
		return Object{}, d.wrap(op, key, err)
	}
	return obj, nil
}

// openFile opens key's file and describes it, checking ifMatch against that very version.
func (d *Dir) openFile(ctx context.Context, op, key, ifMatch string) (*os.File, Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, Object{}, d.wrap(op, key, err)
	}
	p, err := d.path(op, key)
	if err != nil {
		return nil, Object{}, err
	}
	f, err := os.Open(p)
	if isMissing(err) {
		return nil, Object{}, d.notFound(op, key)
	}
	if err != nil {
		return nil, Object{}, d.wrap(op, key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		f.Close()
		return nil, Object{}, d.notFound(op, key) // a folder is not an object
	}
	var obj Object
	if err == nil {
		if ifMatch == "" {
			obj = Object{Key: key, Size: fi.Size(), Modified: fi.ModTime()}
		} else {
			obj, err = d.describeOpen(key, f)
		}
	}
	if err != nil {
		f.Close()
		return nil, Object{}, d.wrap(op, key, err)
	}
	if ifMatch != "" && obj.ETag != UnquoteETag(ifMatch) {
		f.Close()
		return nil, Object{}, fmt.Errorf("%s %s/%s: %w (want %s, have %s)", op, d.name, key, ErrPreconditionFailed, ifMatch, obj.ETag)
	}
	return f, obj, nil
}

// Open streams key. With ifMatch set, the check and the read are on the same open file, so a
// concurrent overwrite cannot slip in between.
func (d *Dir) Open(ctx context.Context, key, ifMatch string) (io.ReadCloser, error) {
	f, _, err := d.openFile(ctx, "open", key, ifMatch)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// OpenRange streams length bytes of key from offset; past the end it returns an empty reader, as a
// Parquet reader probing a footer expects.
func (d *Dir) OpenRange(ctx context.Context, key, ifMatch string, offset, length int64) (io.ReadCloser, error) {
	const op = "open range"
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("%s %s/%s: invalid range: offset %d, length %d", op, d.name, key, offset, length)
	}
	f, obj, err := d.openFile(ctx, op, key, ifMatch)
	if err != nil {
		return nil, err
	}
	if offset >= obj.Size || length == 0 {
		f.Close()
		return io.NopCloser(strings.NewReader("")), nil
	}
	n := min(length, obj.Size-offset) // also avoids offset+length overflowing
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, offset, n), f}, nil
}

// Get reads key whole, hashing the bytes it read, so the ETag it reports is that of exactly this
// version whatever replaces the file meanwhile.
func (d *Dir) Get(ctx context.Context, key string) ([]byte, Object, error) {
	const op = "get"
	f, _, err := d.openFile(ctx, op, key, "")
	if err != nil {
		return nil, Object{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, Object{}, d.wrap(op, key, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxGetBytes+1))
	if err != nil {
		return nil, Object{}, d.wrap(op, key, err)
	}
	if len(data) > MaxGetBytes {
		return nil, Object{}, fmt.Errorf("%s %s/%s: larger than the %d bytes Get reads", op, d.name, key, MaxGetBytes)
	}
	sum := md5.Sum(data)
	return data, Object{Key: key, Size: int64(len(data)), ETag: hex.EncodeToString(sum[:]), Modified: fi.ModTime()}, nil
}
