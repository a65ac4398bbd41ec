package store

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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

// lock takes the lock that every change of key holds: one of 256 files chosen by a hash of the key,
// so the folder never holds more lock files than that and unrelated keys rarely wait for each other.
func (d *Dir) lock(key string) (func(), error) {
	sum := sha256.Sum256([]byte(key))
	p := filepath.Join(d.lockDir(), hex.EncodeToString(sum[:1]))
	unlock, err := lockFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		// The hidden folder was removed by hand; put it back rather than fail every write.
		if err = os.MkdirAll(d.lockDir(), 0o755); err == nil {
			unlock, err = lockFile(p)
		}
	}
	return unlock, err
}

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
