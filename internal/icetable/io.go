package icetable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	icebergio "github.com/apache/iceberg-go/io"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// bucketIO is the file system iceberg-go reads and writes the table's metadata, manifests and manifest
// lists through: the table's objects in the pipeline's store (a folder locally, the processed bucket on
// AWS), addressed by their URL under the table's location. Files are small (metadata, manifests); the
// data files are written by the pipeline, never through here, and a read of one is refused beyond
// store.MaxGetBytes.
type bucketIO struct {
	ctx  context.Context
	home workflow.TableHome
}

var (
	_ icebergio.WriteFileIO = (*bucketIO)(nil)
	_ icebergio.ReadFileIO  = (*bucketIO)(nil)
	_ icebergio.ListableIO  = (*bucketIO)(nil)
)

// key is the store key of a file of the table, named by its URL (or already by its key).
func (b *bucketIO) key(name string) (string, error) {
	if name == b.home.Location {
		return b.home.Prefix, nil
	}
	if rel, ok := strings.CutPrefix(name, b.home.Location+"/"); ok {
		return b.home.Key(rel), nil
	}
	if b.home.Prefix == "" {
		return "", fmt.Errorf("%s is outside the table's location %s", name, b.home.Location)
	}
	if strings.HasPrefix(name, b.home.Prefix+"/") {
		return name, nil
	}
	// The table's URL as another view of the same bucket wrote it (a folder's file URL, the bucket's
	// s3:// URL): its key starts at the table's prefix.
	if i := strings.Index(name, "/"+b.home.Prefix+"/"); i >= 0 {
		return name[i+1:], nil
	}
	return "", fmt.Errorf("%s is outside the table's location %s", name, b.home.Location)
}

// url is the URL of the table's object key.
func (b *bucketIO) url(key string) string {
	if b.home.Prefix == "" {
		return b.home.Location + "/" + key
	}
	return b.home.Location + strings.TrimPrefix(key, b.home.Prefix)
}

func notExist(name string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return err
}

func (b *bucketIO) Open(name string) (icebergio.File, error) {
	key, err := b.key(name)
	if err != nil {
		return nil, err
	}
	data, obj, err := b.home.Bucket.Get(b.ctx, key)
	if err != nil {
		return nil, notExist(name, err)
	}
	return &memFile{Reader: bytes.NewReader(data), info: fileInfo{name: path.Base(key), size: int64(len(data)), mod: obj.Modified}}, nil
}

func (b *bucketIO) ReadFile(name string) ([]byte, error) {
	key, err := b.key(name)
	if err != nil {
		return nil, err
	}
	data, _, err := b.home.Bucket.Get(b.ctx, key)
	return data, notExist(name, err)
}

func (b *bucketIO) Remove(name string) error {
	key, err := b.key(name)
	if err != nil {
		return err
	}
	return b.home.Bucket.Delete(b.ctx, key)
}

func (b *bucketIO) WriteFile(name string, p []byte) error {
	key, err := b.key(name)
	if err != nil {
		return err
	}
	_, err = b.home.Bucket.Put(b.ctx, key, p)
	return err
}

func (b *bucketIO) Create(name string) (icebergio.FileWriter, error) {
	key, err := b.key(name)
	if err != nil {
		return nil, err
	}
	return &memWriter{put: func(p []byte) error { _, err := b.home.Bucket.Put(b.ctx, key, p); return err }}, nil
}

// WalkDir calls fn for every object under root (a URL under the table's location), in key order.
func (b *bucketIO) WalkDir(root string, fn fs.WalkDirFunc) error {
	key, err := b.key(strings.TrimSuffix(root, "/"))
	if err != nil {
		return err
	}
	if key != "" {
		key += "/"
	}
	objs, err := b.home.Bucket.List(b.ctx, key)
	if err != nil {
		return err
	}
	for _, o := range objs {
		name := b.url(o.Key)
		if err := fn(name, fs.FileInfoToDirEntry(fileInfo{name: path.Base(o.Key), size: o.Size, mod: o.Modified}), nil); err != nil {
			if errors.Is(err, fs.SkipDir) || errors.Is(err, fs.SkipAll) {
				return nil
			}
			return err
		}
	}
	return nil
}

type memFile struct {
	*bytes.Reader
	info fileInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

type memWriter struct {
	bytes.Buffer
	put    func([]byte) error
	closed bool
}

func (w *memWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.put(w.Bytes())
}

type fileInfo struct {
	name string
	size int64
	mod  time.Time
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return 0o444 }
func (i fileInfo) ModTime() time.Time { return i.mod }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return nil }
