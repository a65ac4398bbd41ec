package store

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// describe builds the Object for the file at p whose stat is fi, hashing it only on a cache miss.
func (d *Dir) describe(key, p string, fi fs.FileInfo) (Object, error) {
	obj := Object{Key: key, Size: fi.Size(), Modified: fi.ModTime()}
	if etag, ok := d.cachedETag(key, fi); ok {
		obj.ETag = etag
		return obj, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return Object{}, err
	}
	defer f.Close()
	return d.describeOpen(key, f)
}

// describeOpen is describe for a file already open, which is the version a reader will get even if
// the path is replaced meanwhile.
func (d *Dir) describeOpen(key string, f *os.File) (Object, error) {
	fi, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	obj := Object{Key: key, Size: fi.Size(), Modified: fi.ModTime()}
	if etag, ok := d.cachedETag(key, fi); ok {
		obj.ETag = etag
		return obj, nil
	}
	h := md5.New()
	// ReadAt through a SectionReader leaves the file offset alone for the caller's reads.
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
		return Object{}, err
	}
	obj.ETag = hexMD5(h)
	d.cacheETag(key, fi, obj.ETag)
	return obj, nil
}

func hexMD5(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// etagPath names a key's cache entry by a hash of the key: a flat folder never meets the file/folder
// clashes or name-length limits that mirroring the key tree would.
func (d *Dir) etagPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(d.etagDir(), hex.EncodeToString(sum[:]))
}

// A cache entry is one line: size, modification time in Unix nanoseconds, ETag. Size and
// mtime are what a hand copy (cp, an editor, rsync) changes; the remaining hole, a same-size rewrite
// that also restores the old mtime to the nanosecond, is not worth hashing every file on every Head.
func (d *Dir) cachedETag(key string, fi fs.FileInfo) (string, bool) {
	b, err := os.ReadFile(d.etagPath(key))
	if err != nil {
		return "", false
	}
	f := strings.Fields(string(b))
	if len(f) != 3 || f[0] != strconv.FormatInt(fi.Size(), 10) ||
		f[1] != strconv.FormatInt(fi.ModTime().UnixNano(), 10) {
		return "", false
	}
	return UnquoteETag(f[2]), true // entries written before ETags were unquoted have quotes
}

// cacheETag records etag for the file version described by fi. It is best effort: a failure only
// costs a rehash later. The entry is renamed into place so a concurrent reader never sees half a line.
func (d *Dir) cacheETag(key string, fi fs.FileInfo, etag string) {
	tmp, err := os.CreateTemp(d.tmpDir(), "etag-*")
	if err != nil {
		return
	}
	_, werr := fmt.Fprintf(tmp, "%d %d %s\n", fi.Size(), fi.ModTime().UnixNano(), etag)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), d.etagPath(key)) != nil {
		_ = os.Remove(tmp.Name())
	}
}

// fileETag is the ETag (hex MD5) of the regular file at path.
func fileETag(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fs.ErrNotExist // a folder is not an object
	}
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hexMD5(h), nil
}
