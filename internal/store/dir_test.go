package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func newTestDir(t testing.TB) *Dir {
	t.Helper()
	d, err := NewDir("raw", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDirCopyWithoutHardLinks: where the file system refuses hard links, Copy copies the bytes, with the
// same result.
func TestDirCopyWithoutHardLinks(t *testing.T) {
	link = func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EPERM} }
	defer func() { link = os.Link }()
	ctx := t.Context()
	d := newTestDir(t)
	data := payload(300 << 10)
	src := mustPut(t, d, "_staging/e/x.parquet", data)
	obj, err := d.Copy(ctx, "_staging/e/x.parquet", "out/x.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if obj.ETag != src.ETag || obj.Size != src.Size {
		t.Errorf("Copy = %+v, want the source's etag %s and size %d", obj, src.ETag, src.Size)
	}
	a, _ := os.Stat(filepath.Join(d.Root(), "_staging/e/x.parquet"))
	b, _ := os.Stat(filepath.Join(d.Root(), "out/x.parquet"))
	if os.SameFile(a, b) {
		t.Error("the copy is a hard link although links were refused")
	}
	rc, err := d.Open(ctx, "out/x.parquet", src.ETag)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, rc), data) {
		t.Error("the copied bytes differ")
	}
	assertNoTemps(t, d)
}

// TestDirObjectsAreReadable: committed objects are ordinary readable files, not private temp files.
func TestDirObjectsAreReadable(t *testing.T) {
	d := newTestDir(t)
	mustPut(t, d, "a/b.parquet", []byte("x"))
	fi, err := os.Stat(filepath.Join(d.Root(), "a/b.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o044 != 0o044 {
		t.Errorf("mode %v, want readable by group and others", fi.Mode().Perm())
	}
}

func TestDirRejectsKeys(t *testing.T) {
	ctx := t.Context()
	d := newTestDir(t)
	for _, k := range []string{
		"", "../x", "a/../../x", "/abs", "a//b", "a/", "./a", "a/./b", "a\\b", "a\x00b", "..",
		".store/etags/x", ".store",
	} {
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, ErrInvalidKey) || IsTransient(err) || !strings.Contains(err.Error(), "raw") {
				t.Errorf("%s(%q) error = %v, want ErrInvalidKey naming the bucket", op, k, err)
			}
		}
		_, err := d.Put(ctx, k, []byte("x"))
		check("Put", err)
		_, err = d.Create(ctx, k)
		check("Create", err)
		_, err = d.Head(ctx, k)
		check("Head", err)
		_, err = d.Open(ctx, k, "")
		check("Open", err)
		_, err = d.OpenRange(ctx, k, "", 0, 1)
		check("OpenRange", err)
		check("Delete", d.Delete(ctx, k))
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(d.Root()), "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a write escaped the root: %v", err)
	}
	// Keys that are fine on S3 but not in a folder: a file and a folder of the same name.
	mustPut(t, d, "a", []byte("file"))
	if _, err := d.Put(ctx, "a/b", []byte("x")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Put(a/b) with object a error = %v, want ErrInvalidKey", err)
	}
	mustPut(t, d, "c/d", []byte("x"))
	if _, err := d.Put(ctx, "c", []byte("x")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Put(c) with object c/d error = %v, want ErrInvalidKey", err)
	}
	if _, err := d.Head(ctx, "a/b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head(a/b) under a file error = %v, want ErrNotFound", err)
	}
	if err := d.Delete(ctx, "c"); err != nil {
		t.Errorf("Delete(c) of a folder: %v", err)
	}
	if _, err := d.Head(ctx, "c/d"); err != nil {
		t.Errorf("Delete of a folder name removed its object: %v", err)
	}
	assertNoTemps(t, d) // failed writes clean up
}

func assertNoTemps(t *testing.T, d *Dir) {
	t.Helper()
	entries, err := os.ReadDir(d.tmpDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("temp file left: %s", e.Name())
	}
}

// Users copy files into the folder by hand; Head must not serve the cached ETag of the old content,
// even when the new file has the same size.
func TestDirETagCacheInvalidation(t *testing.T) {
	ctx := t.Context()
	d := newTestDir(t)
	put := mustPut(t, d, "in/r.csv", []byte("first content"))
	p := filepath.Join(d.Root(), "in", "r.csv")

	for i, content := range []string{"second, a different size", "SECOND, A DIFFERENT SIZE"} {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		// A distinct mtime, as a copy a moment later has, also on file systems with coarse timestamps.
		mtime := time.Now().Add(time.Duration(i+1) * time.Hour)
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		head, err := d.Head(ctx, "in/r.csv")
		if err != nil {
			t.Fatal(err)
		}
		if want := etagOf([]byte(content)); head.ETag != want {
			t.Errorf("Head after hand copy #%d = %s, want %s (the first put had %s)", i+1, head.ETag, want, put.ETag)
		}
		objs, err := d.List(ctx, "in/")
		if err != nil || len(objs) != 1 || objs[0].ETag != head.ETag {
			t.Errorf("List after hand copy = %+v, %v; want etag %s", objs, err, head.ETag)
		}
		if _, err := d.Open(ctx, "in/r.csv", put.ETag); !errors.Is(err, ErrPreconditionFailed) {
			t.Errorf("Open(old etag) after hand copy error = %v, want ErrPreconditionFailed", err)
		}
	}
}

// The cache is what Head answers from: a forged entry that matches the file's stat is believed. This
// is how the test knows Head does not rehash the file.
func TestDirHeadUsesCache(t *testing.T) {
	ctx := t.Context()
	d := newTestDir(t)
	mustPut(t, d, "big", payload(1<<20))
	fi, err := os.Stat(filepath.Join(d.Root(), "big"))
	if err != nil {
		t.Fatal(err)
	}
	// Quoted, as entries were written before ETags were reported unquoted: still used, unquoted.
	forged := `"00000000000000000000000000000000"`
	d.cacheETag("big", fi, forged)
	if head, err := d.Head(ctx, "big"); err != nil || head.ETag != UnquoteETag(forged) {
		t.Errorf("Head = %+v, %v; want the cached etag %s", head, err, UnquoteETag(forged))
	}
}

// Put records the ETag it computed while writing: Head answers from the cache as long as size and
// mtime match, which the test shows by changing the bytes behind the cache's back.
func TestDirPutCachesETag(t *testing.T) {
	ctx := t.Context()
	d := newTestDir(t)
	put := mustPut(t, d, "k", []byte("original"))
	p := filepath.Join(d.Root(), "k")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("ORIGINAL"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if head, err := d.Head(ctx, "k"); err != nil || head.ETag != put.ETag {
		t.Errorf("Head = %+v, %v; want the cached etag %s", head, err, put.ETag)
	}
}

// A file dropped in by hand, with no cache entry, is listed and described like any other.
func TestDirHandCopiedFile(t *testing.T) {
	ctx := t.Context()
	d := newTestDir(t)
	data := []byte("dropped by hand")
	if err := os.MkdirAll(filepath.Join(d.Root(), "incoming"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.Root(), "incoming", "Settlement report +%20 ü.csv"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	head, err := d.Head(ctx, specialKey)
	if err != nil || head.ETag != etagOf(data) {
		t.Errorf("Head = %+v, %v; want etag %s", head, err, etagOf(data))
	}
}

// Temp files of uploads in progress and the ETag cache live in the folder but are not objects.
func TestDirListHidesOwnFiles(t *testing.T) {
	ctx := t.Context()
	d := newTestDir(t)
	mustPut(t, d, "a.csv", []byte("a"))
	u, err := d.Create(ctx, "pending.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort()
	if _, err := u.Write([]byte("not yet")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Head(ctx, "a.csv"); err != nil { // fills the cache
		t.Fatal(err)
	}
	for _, prefix := range []string{"", ".", ".store", ".store/", ".store/tmp/"} {
		objs, err := d.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		want := []string(nil)
		if strings.HasPrefix("a.csv", prefix) {
			want = []string{"a.csv"}
		}
		if got := keys(objs); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	// A user's own dot file is an object like any other.
	if err := os.WriteFile(filepath.Join(d.Root(), ".notes"), []byte("n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if objs, _ := d.List(ctx, ""); !slices.Equal(keys(objs), []string{".notes", "a.csv"}) {
		t.Errorf("List = %q, want [.notes a.csv]", keys(objs))
	}
}

func TestDirDeletePrunesEmptyFolders(t *testing.T) {
	ctx := t.Context()
	d := newTestDir(t)
	mustPut(t, d, "x/y/z/deep.csv", []byte("1"))
	mustPut(t, d, "x/sibling.csv", []byte("2"))
	if err := d.Delete(ctx, "x/y/z/deep.csv"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.Root(), "x", "y")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty folder x/y kept: %v", err)
	}
	if err := d.Delete(ctx, "x/sibling.csv"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.Root(), "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty folder x kept: %v", err)
	}
	if _, err := os.Stat(d.Root()); err != nil {
		t.Errorf("root removed: %v", err)
	}
	if _, err := os.Stat(d.etagPath("x/sibling.csv")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cache entry of a deleted key kept: %v", err)
	}
}

func TestDirAbortRemovesTemp(t *testing.T) {
	d := newTestDir(t)
	u, err := d.Create(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	writeInChunks(t, u, payload(1<<20))
	if err := u.Abort(); err != nil {
		t.Fatal(err)
	}
	assertNoTemps(t, d)
}

func TestDirRemovesStaleTemps(t *testing.T) {
	root := t.TempDir()
	d, err := NewDir("raw", root)
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(d.tmpDir(), "upload-crashed")
	fresh := filepath.Join(d.tmpDir(), "upload-running")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDir("raw", root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp removed: %v", err)
	}
}

// Concurrent writers of one key and of many keys, with deletes pruning the folders they write into:
// every read sees a whole object whose ETag matches its content.
func TestDirConcurrent(t *testing.T) {
	ctx := t.Context()
	d := newTestDir(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 20 {
				data := []byte(fmt.Sprintf("writer %d round %d", i, j))
				if _, err := d.Put(ctx, "shared/key", data); err != nil {
					t.Errorf("Put(shared): %v", err)
				}
				own := fmt.Sprintf("w%d/f%d", i%4, j)
				if _, err := d.Put(ctx, own, data); err != nil {
					t.Errorf("Put(%s): %v", own, err)
				}
				if err := d.Delete(ctx, own); err != nil {
					t.Errorf("Delete(%s): %v", own, err)
				}
				rc, err := d.Open(ctx, "shared/key", "")
				if err != nil {
					t.Errorf("Open(shared): %v", err)
					continue
				}
				got := readAll(t, rc)
				if !strings.HasPrefix(string(got), "writer ") {
					t.Errorf("read a partial object: %q", got)
				}
			}
		})
	}
	wg.Wait()
	rc, err := d.Open(ctx, "shared/key", "")
	if err != nil {
		t.Fatal(err)
	}
	data := readAll(t, rc)
	head, err := d.Head(ctx, "shared/key")
	if err != nil || head.ETag != etagOf(data) {
		t.Errorf("Head = %+v, %v; want etag %s of the last write", head, err, etagOf(data))
	}
	assertNoTemps(t, d)
}

func TestDirLocalErrorsAreTransient(t *testing.T) {
	err := fmt.Errorf("commit raw/k: %w", &fs.PathError{Op: "write", Path: "/x", Err: errors.New("no space left on device")})
	if !IsTransient(err) {
		t.Errorf("IsTransient(%v) = false, want true", err)
	}
}

// BenchmarkDirCreate64MiB measures streaming a 64 MiB object into a Dir: hashing, writing, fsync and
// rename, as `settle run` does for a large report.
func BenchmarkDirCreate64MiB(b *testing.B) {
	const size = 64 << 20
	d := newTestDir(b)
	chunk := payload(1 << 20)
	ctx := b.Context()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		u, err := d.Create(ctx, "bench/big.bin")
		if err != nil {
			b.Fatal(err)
		}
		for range size / len(chunk) {
			if _, err := u.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := u.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
