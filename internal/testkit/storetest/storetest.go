// Package storetest is the conformance suite every store.Bucket implementation must pass (the folder
// bucket, S3 through the SDK against moto and gofakes3), with the helpers those tests share.
package storetest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/paysettle/settle/internal/store"
)

// PartSize is the part size the S3 tests use, so that a Payload of a few hundred KB spans several
// parts. Dir ignores it; the same payloads exercise its streaming.
const PartSize = 64 << 10

// SpecialKey is a key as settlement files arrive: spaces, a plus, a percent escape that must stay
// literal, and non-ASCII.
const SpecialKey = "incoming/Settlement report +%20 ü.csv"

// Conformance is what the shared suite needs to know about a store.Bucket implementation.
type Conformance struct {
	// NewBucket returns an empty bucket named "raw".
	NewBucket func(t *testing.T) store.Bucket
	// CommitETagIsStored is false where Commit of a multipart upload reports another ETag than Head
	// later does (gofakes3: "md5-of-md5s-N" from Complete, the plain MD5 from Head; S3 reports the
	// former from both).
	CommitETagIsStored bool
	// Conditional is whether the implementation enforces PutIf's and DeleteIf's preconditions (gofakes3
	// ignores them; S3, moto and Dir enforce them).
	Conditional bool
}

// ETagOf is the ETag a single-part upload of b gets: its hex MD5.
func ETagOf(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// Payload returns n deterministic pseudo-random bytes.
func Payload(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// ReadAll reads and closes rc, failing the test on an error.
func ReadAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

// MustPut puts data at key, failing the test on an error.
func MustPut(t *testing.T, b store.Bucket, key string, data []byte) store.Object {
	t.Helper()
	obj, err := b.Put(t.Context(), key, data)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return obj
}

// Keys lists the objects' keys.
func Keys(objs []store.Object) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Key)
	}
	return ks
}

// WriteInChunks writes data in uneven chunks, as a CSV or Parquet writer would.
func WriteInChunks(t *testing.T, w io.Writer, data []byte) {
	t.Helper()
	for len(data) > 0 {
		n := min(len(data), 7919)
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		data = data[n:]
	}
}

// Run runs the conformance suite against the implementation c describes: each behaviour as a subtest
// of t, named as below, so that -run can pick one (e.g. -run 'TestDirConformance/^Race$').
func Run(t *testing.T, c Conformance) {
	for _, tc := range []struct {
		name        string
		conditional bool // run only where c.Conditional
		test        func(*testing.T, Conformance)
	}{
		// Writing and reading back.
		{"Name", false, testName},
		{"PutHeadOpen", false, testPutHeadOpen},
		{"EmptyObject", false, testEmptyObject},
		{"IfMatch", false, testIfMatch},
		{"Get", false, testGet},
		// Conditional writes (PutIf, DeleteIf): each condition, and that of writers racing on one version
		// of an object exactly one wins. Only where the implementation enforces them.
		{"PutIfAbsent", true, testPutIfAbsent},
		{"PutIfMatch", true, testPutIfMatch},
		{"DeleteIf", true, testDeleteIf},
		{"Race", true, testRace},
		{"CreateIf", true, testCreateIf},
		// Ranges and missing keys.
		{"OpenRange", false, testOpenRange},
		{"NotFound", false, testNotFound},
		// Streaming uploads.
		{"CreateStreaming", false, testCreateStreaming},
		{"CreateSmall", false, testCreateSmall},
		{"Abort", false, testAbort},
		// Deletes and copies.
		{"Delete", false, testDelete},
		{"Copy", false, testCopy},
		// Listing.
		{"List", false, testList},
		// Keys.
		{"SpecialKeys", false, testSpecialKeys},
		{"InvalidKeys", false, testInvalidKeys},
		// Cancellation.
		{"Canceled", false, testCanceled},
	} {
		if tc.conditional && !c.Conditional {
			continue
		}
		t.Run(tc.name, func(t *testing.T) { tc.test(t, c) })
	}
}

// mustGet reads key whole, failing the test on an error, and returns its bytes and ETag.
func mustGet(t *testing.T, b store.Bucket, key string) ([]byte, string) {
	t.Helper()
	data, obj, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return data, obj.ETag
}

// testName: the bucket reports the name it was made with.
func testName(t *testing.T, c Conformance) {
	if got := c.NewBucket(t).Name(); got != "raw" {
		t.Errorf("Name() = %q, want raw", got)
	}
}

// testPutHeadOpen: an object put is described alike by Put and Head, with its MD5 as ETag, and reads
// back whole.
func testPutHeadOpen(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	data := []byte("Company Account,Merchant Account\nAcme,AcmeEUR\n")
	want := ETagOf(data)
	put := MustPut(t, b, "in/report.csv", data)
	if put.Key != "in/report.csv" || put.Size != int64(len(data)) || put.ETag != want {
		t.Errorf("Put = %+v, want key in/report.csv, size %d, etag %s", put, len(data), want)
	}
	head, err := b.Head(ctx, "in/report.csv")
	if err != nil {
		t.Fatal(err)
	}
	if head.Size != int64(len(data)) || head.ETag != want || head.Modified.IsZero() {
		t.Errorf("Head = %+v, want size %d, etag %s, a modification time", head, len(data), want)
	}
	rc, err := b.Open(ctx, "in/report.csv", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := ReadAll(t, rc); !bytes.Equal(got, data) {
		t.Errorf("Open read %q, want %q", got, data)
	}
}

// testEmptyObject: an object of no bytes, put or uploaded, has the MD5 of nothing as ETag and reads
// back empty.
func testEmptyObject(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	put := MustPut(t, b, "empty", nil)
	if want := ETagOf(nil); put.ETag != want || put.Size != 0 {
		t.Errorf("Put(empty) = %+v, want etag %s, size 0", put, want)
	}
	u, err := b.Create(ctx, "empty2")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := u.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if want := ETagOf(nil); obj.ETag != want || obj.Size != 0 {
		t.Errorf("Create+Commit of nothing = %+v, want etag %s", obj, want)
	}
	rc, err := b.Open(ctx, "empty2", obj.ETag)
	if err != nil {
		t.Fatal(err)
	}
	if got := ReadAll(t, rc); len(got) != 0 {
		t.Errorf("read %d bytes from an empty object", len(got))
	}
}

// testIfMatch: reads at an ETag (quoted or not) succeed while the object is that version and fail
// with ErrPreconditionFailed once it is replaced, for whole reads and ranges alike.
func testIfMatch(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	old := MustPut(t, b, "k", []byte("version 1"))
	for _, etag := range []string{old.ETag, `"` + old.ETag + `"`} {
		rc, err := b.Open(ctx, "k", etag)
		if err != nil {
			t.Fatalf("Open(ifMatch %s): %v", etag, err)
		}
		if got := ReadAll(t, rc); string(got) != "version 1" {
			t.Errorf("Open(ifMatch %s) read %q", etag, got)
		}
	}
	cur := MustPut(t, b, "k", []byte("version 2, longer"))
	if cur.ETag == old.ETag {
		t.Fatal("overwrite kept the etag")
	}
	if _, err := b.Open(ctx, "k", old.ETag); !errors.Is(err, store.ErrPreconditionFailed) || store.IsTransient(err) {
		t.Errorf("Open(stale etag) error = %v, want store.ErrPreconditionFailed, not transient", err)
	}
	for _, r := range [][2]int64{{0, 3}, {100, 5}, {0, 0}} {
		if _, err := b.OpenRange(ctx, "k", old.ETag, r[0], r[1]); !errors.Is(err, store.ErrPreconditionFailed) {
			t.Errorf("OpenRange(stale etag, %d, %d) error = %v, want store.ErrPreconditionFailed", r[0], r[1], err)
		}
	}
	rc, err := b.OpenRange(ctx, "k", cur.ETag, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := ReadAll(t, rc); string(got) != "2" {
		t.Errorf("OpenRange(current etag) read %q, want %q", got, "2")
	}
}

// testGet: Get returns an object's bytes with its ETag, and ErrNotFound for a missing key.
func testGet(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	data := []byte(`{"version":1}` + "\n")
	put := MustPut(t, b, "_manifests/a.json", data)
	got, obj, err := b.Get(ctx, "_manifests/a.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) || obj.ETag != put.ETag || obj.Size != int64(len(data)) {
		t.Errorf("Get = %q, %+v; want %q with etag %s", got, obj, data, put.ETag)
	}
	if _, _, err := b.Get(ctx, "_manifests/none.json"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want store.ErrNotFound", err)
	}
}

// testPutIfAbsent: of two PutIf(IfAbsent) of one key the first creates the object and the second
// fails, leaving it as it was.
func testPutIfAbsent(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	first, err := b.PutIf(ctx, "claim", []byte("A"), store.Precondition{IfAbsent: true})
	if err != nil {
		t.Fatalf("first PutIf(absent) = %v", err)
	}
	if first.ETag != ETagOf([]byte("A")) {
		t.Errorf("PutIf etag = %s, want %s", first.ETag, ETagOf([]byte("A")))
	}
	if _, err := b.PutIf(ctx, "claim", []byte("B"), store.Precondition{IfAbsent: true}); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Errorf("second PutIf(absent) = %v, want store.ErrPreconditionFailed", err)
	}
	if data, _ := mustGet(t, b, "claim"); string(data) != "A" {
		t.Errorf("after a failed PutIf the object is %q, want A", data)
	}
}

// conditionalCreator is a bucket whose streaming uploads can be conditional (store.Dir, s3store).
type conditionalCreator interface {
	CreateIf(ctx context.Context, key string, pre store.Precondition) (store.Upload, error)
}

// testCreateIf: a streaming upload created only while its key is absent (or holds a version) commits
// when the condition holds and otherwise fails with store.ErrPreconditionFailed, leaving the key as it
// was; for an upload of one part and for one of several.
func testCreateIf(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	cc, ok := b.(conditionalCreator)
	if !ok {
		t.Skip("the bucket has no conditional streaming upload")
	}
	for _, size := range []int{10, 2*PartSize + PartSize/2} {
		key := fmt.Sprintf("copy-%d", size)
		data := Payload(size)
		create := func(pre store.Precondition) (store.Object, error) {
			u, err := cc.CreateIf(ctx, key, pre)
			if err != nil {
				t.Fatal(err)
			}
			defer u.Abort()
			WriteInChunks(t, u, data)
			return u.Commit()
		}
		first, err := create(store.Precondition{IfAbsent: true})
		if err != nil {
			t.Fatalf("%d bytes: CreateIf(absent) on a missing key = %v", size, err)
		}
		other := MustPut(t, b, key, []byte("another commit"))
		if _, err := create(store.Precondition{IfAbsent: true}); !errors.Is(err, store.ErrPreconditionFailed) {
			t.Errorf("%d bytes: CreateIf(absent) on a present key = %v, want store.ErrPreconditionFailed", size, err)
		}
		if _, err := create(store.Precondition{IfMatch: first.ETag}); !errors.Is(err, store.ErrPreconditionFailed) {
			t.Errorf("%d bytes: CreateIf(match a stale etag) = %v, want store.ErrPreconditionFailed", size, err)
		}
		if got, etag := mustGet(t, b, key); string(got) != "another commit" || etag != other.ETag {
			t.Errorf("%d bytes: after the refused uploads the key holds %q", size, got)
		}
		if _, err := create(store.Precondition{IfMatch: other.ETag}); err != nil {
			t.Errorf("%d bytes: CreateIf(match the current etag) = %v", size, err)
		}
	}
}

// testPutIfMatch: PutIf(IfMatch) replaces the version it names and fails on a stale ETag or a missing
// key, changing nothing.
func testPutIfMatch(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	v1 := MustPut(t, b, "m.json", []byte("v1"))
	v2, err := b.PutIf(ctx, "m.json", []byte("v2"), store.Precondition{IfMatch: v1.ETag})
	if err != nil {
		t.Fatalf("PutIf(v1's etag) = %v", err)
	}
	if _, err := b.PutIf(ctx, "m.json", []byte("v3"), store.Precondition{IfMatch: v1.ETag}); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Errorf("PutIf(stale etag) = %v, want store.ErrPreconditionFailed", err)
	}
	if data, etag := mustGet(t, b, "m.json"); string(data) != "v2" || etag != v2.ETag {
		t.Errorf("object = %q %s, want v2 %s", data, etag, v2.ETag)
	}
	if _, err := b.PutIf(ctx, "none.json", []byte("x"), store.Precondition{IfMatch: v1.ETag}); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Errorf("PutIf(etag) on a missing key = %v, want store.ErrPreconditionFailed", err)
	}
	if _, err := b.Head(ctx, "none.json"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed PutIf created the object: %v", err)
	}
}

// testDeleteIf: DeleteIf removes the version it names only: a stale ETag fails and keeps the object,
// a missing key is ErrNotFound.
func testDeleteIf(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	v1 := MustPut(t, b, "claim", []byte("A"))
	v2 := MustPut(t, b, "claim", []byte("B"))
	if err := b.DeleteIf(ctx, "claim", v1.ETag); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Errorf("DeleteIf(stale etag) = %v, want store.ErrPreconditionFailed", err)
	}
	if data, _ := mustGet(t, b, "claim"); string(data) != "B" {
		t.Errorf("after a failed DeleteIf the object is %q", data)
	}
	if err := b.DeleteIf(ctx, "claim", v2.ETag); err != nil {
		t.Errorf("DeleteIf(current etag) = %v", err)
	}
	if _, err := b.Head(ctx, "claim"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after DeleteIf, Head = %v, want store.ErrNotFound", err)
	}
	if err := b.DeleteIf(ctx, "claim", v2.ETag); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteIf(missing) = %v, want store.ErrNotFound", err)
	}
}

// testRace: of writers racing with PutIf on one version of an object (none yet, then the one read)
// exactly one wins, and the object holds what the winner wrote.
func testRace(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	const writers = 8
	// Every body is unique across both rounds: a writer rewriting the bytes it read leaves the ETag
	// as it was, and a second If-Match on it would rightly succeed.
	race := func(round int, pre store.Precondition) (wins int, contents []string) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf("round %d, writer %d", round, i)
				_, err := b.PutIf(ctx, "race", []byte(body), pre)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
					contents = append(contents, body)
				case !errors.Is(err, store.ErrPreconditionFailed):
					t.Errorf("writer %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		return wins, contents
	}
	wins, won := race(1, store.Precondition{IfAbsent: true})
	if wins != 1 {
		t.Fatalf("%d of %d writers created the object, want exactly 1", wins, writers)
	}
	data, etag := mustGet(t, b, "race")
	if string(data) != won[0] {
		t.Errorf("object = %q, the winner wrote %q", data, won[0])
	}
	wins, won = race(2, store.Precondition{IfMatch: etag})
	if wins != 1 {
		t.Fatalf("%d of %d writers replaced the version they read, want exactly 1", wins, writers)
	}
	if data, _ := mustGet(t, b, "race"); string(data) != won[0] {
		t.Errorf("object = %q, the winner wrote %q", data, won[0])
	}
}

// testOpenRange: ranges read what is there: to the end, past it, of nothing, of an empty object; a
// negative offset is a permanent error.
func testOpenRange(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	MustPut(t, b, "digits", []byte("0123456789"))
	MustPut(t, b, "empty", nil)
	for _, tc := range []struct {
		key            string
		offset, length int64
		want           string
	}{
		{"digits", 0, 10, "0123456789"},
		{"digits", 2, 3, "234"},
		{"digits", 7, 3, "789"},                 // exactly to the end
		{"digits", 7, 10, "789"},                // past the end: what is there
		{"digits", 9, 1, "9"},                   // last byte
		{"digits", 10, 5, ""},                   // starts at the end
		{"digits", 20, 1, ""},                   // starts past the end
		{"digits", 4, 0, ""},                    // nothing asked
		{"digits", 3, math.MaxInt64, "3456789"}, // "to the end" without overflow
		{"empty", 0, 10, ""},
		{"empty", 5, 1, ""},
	} {
		rc, err := b.OpenRange(ctx, tc.key, "", tc.offset, tc.length)
		if err != nil {
			t.Errorf("OpenRange(%s, %d, %d): %v", tc.key, tc.offset, tc.length, err)
			continue
		}
		if got := string(ReadAll(t, rc)); got != tc.want {
			t.Errorf("OpenRange(%s, %d, %d) = %q, want %q", tc.key, tc.offset, tc.length, got, tc.want)
		}
	}
	if _, err := b.OpenRange(ctx, "digits", "", -1, 2); err == nil || store.IsTransient(err) {
		t.Errorf("OpenRange(offset -1) error = %v, want a permanent error", err)
	}
}

// testNotFound: every read of a missing key, or of a "folder", is ErrNotFound naming the key, not
// transient.
func testNotFound(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	MustPut(t, b, "dir/present", []byte("x"))
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrNotFound) || store.IsTransient(err) || !strings.Contains(err.Error(), "dir/missing") {
			t.Errorf("%s(missing) error = %v, want store.ErrNotFound naming the key, not transient", op, err)
		}
	}
	_, err := b.Head(ctx, "dir/missing")
	check("Head", err)
	_, err = b.Open(ctx, "dir/missing", "")
	check("Open", err)
	_, err = b.Open(ctx, "dir/missing", `"0123"`)
	check("Open with ifMatch", err)
	_, err = b.OpenRange(ctx, "dir/missing", "", 0, 10)
	check("OpenRange", err)
	_, err = b.OpenRange(ctx, "dir/missing", "", 10, 10)
	check("OpenRange past the end", err)
	_, err = b.OpenRange(ctx, "dir/missing", "", 0, 0)
	check("OpenRange of nothing", err)
	_, err = b.Head(ctx, "dir") // a "folder" is not an object
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Head(prefix of a key) error = %v, want store.ErrNotFound", err)
	}
}

// testCreateStreaming: an upload of several parts is invisible until Commit, then whole; after
// Commit, Abort does nothing and further writes and commits fail.
func testCreateStreaming(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	data := Payload(5*PartSize + PartSize/2)
	u, err := b.Create(ctx, "out/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort()
	WriteInChunks(t, u, data)
	if _, err := b.Head(ctx, "out/big.bin"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Head before Commit error = %v, want store.ErrNotFound", err)
	}
	if objs, err := b.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Errorf("List before Commit = %v, %v; want nothing", Keys(objs), err)
	}
	obj, err := u.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if obj.Key != "out/big.bin" || obj.Size != int64(len(data)) || obj.ETag == "" {
		t.Errorf("Commit = %+v, want key out/big.bin, size %d, an etag", obj, len(data))
	}
	head, err := b.Head(ctx, "out/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if head.Size != int64(len(data)) {
		t.Errorf("Head size = %d, want %d", head.Size, len(data))
	}
	if c.CommitETagIsStored && head.ETag != obj.ETag {
		t.Errorf("Head etag = %s, Commit said %s", head.ETag, obj.ETag)
	}
	rc, err := b.Open(ctx, "out/big.bin", head.ETag)
	if err != nil {
		t.Fatal(err)
	}
	if got := ReadAll(t, rc); !bytes.Equal(got, data) {
		t.Errorf("content differs: read %d bytes, wrote %d", len(got), len(data))
	}
	if err := u.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if _, err := b.Head(ctx, "out/big.bin"); err != nil {
		t.Errorf("Abort after Commit removed the object: %v", err)
	}
	if _, err := u.Write([]byte("more")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if _, err := u.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
}

// testCreateSmall: an upload of exactly one part gets the plain MD5 as ETag.
func testCreateSmall(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	data := Payload(PartSize) // exactly one part: a plain object with an MD5 etag
	u, err := b.Create(ctx, "one-part")
	if err != nil {
		t.Fatal(err)
	}
	WriteInChunks(t, u, data)
	obj, err := u.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if want := ETagOf(data); obj.ETag != want {
		t.Errorf("Commit etag = %s, want the MD5 %s", obj.ETag, want)
	}
}

// testAbort: an aborted upload, of any size, leaves nothing behind; Abort twice is fine, Commit after
// it fails.
func testAbort(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	for _, n := range []int{0, 100, 3*PartSize + 1} {
		u, err := b.Create(ctx, "aborted")
		if err != nil {
			t.Fatal(err)
		}
		WriteInChunks(t, u, Payload(n))
		if err := u.Abort(); err != nil {
			t.Errorf("Abort after %d bytes: %v", n, err)
		}
		if err := u.Abort(); err != nil {
			t.Errorf("second Abort: %v", err)
		}
		if _, err := u.Commit(); err == nil {
			t.Error("Commit after Abort succeeded")
		}
		if _, err := b.Head(ctx, "aborted"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Head after Abort of %d bytes: %v, want store.ErrNotFound", n, err)
		}
	}
	if objs, err := b.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Errorf("List after Abort = %v, %v; want nothing", Keys(objs), err)
	}
}

// testDelete: Delete removes the object and only it, and deleting a missing key is no error.
func testDelete(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	MustPut(t, b, "a/b/c.csv", []byte("x"))
	MustPut(t, b, "a/keep.csv", []byte("y"))
	for i := range 2 { // the second time the key is missing: still fine
		if err := b.Delete(ctx, "a/b/c.csv"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := b.Delete(ctx, "never/was"); err != nil {
		t.Errorf("Delete(never existed): %v", err)
	}
	if _, err := b.Head(ctx, "a/b/c.csv"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Head after Delete: %v, want store.ErrNotFound", err)
	}
	if objs, err := b.List(ctx, ""); err != nil || !slices.Equal(Keys(objs), []string{"a/keep.csv"}) {
		t.Errorf("List after Delete = %v, %v; want [a/keep.csv]", Keys(objs), err)
	}
}

// testCopy: Copy replaces the destination with the source's bytes and ETag; later writes to either
// key leave the other alone, and a copy of a missing key fails and creates nothing.
func testCopy(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	data := Payload(200 << 10)
	src := MustPut(t, b, "_staging/e/x.parquet", data)
	MustPut(t, b, SpecialKey, []byte("the old version"))
	obj, err := b.Copy(ctx, "_staging/e/x.parquet", SpecialKey)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if obj.Key != SpecialKey || obj.Size != int64(len(data)) || obj.ETag != src.ETag {
		t.Errorf("Copy = %+v; want key %q, size %d, etag %s", obj, SpecialKey, len(data), src.ETag)
	}
	rc, err := b.Open(ctx, SpecialKey, src.ETag)
	if err != nil {
		t.Fatalf("Open the copy with the source's etag: %v", err)
	}
	if got := ReadAll(t, rc); !bytes.Equal(got, data) {
		t.Errorf("the copy has %d bytes, not the source's %d", len(got), len(data))
	}
	// Later writes to either key leave the other alone.
	MustPut(t, b, "_staging/e/x.parquet", []byte("rewritten"))
	if err := b.Delete(ctx, "_staging/e/x.parquet"); err != nil {
		t.Fatal(err)
	}
	if h, err := b.Head(ctx, SpecialKey); err != nil || h.Size != int64(len(data)) || h.ETag != src.ETag {
		t.Errorf("Head of the copy after the source changed = %+v, %v", h, err)
	}
	if _, err := b.Copy(ctx, "_staging/e/x.parquet", "out/y.parquet"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Copy of a missing key: %v, want store.ErrNotFound", err)
	}
	if _, err := b.Head(ctx, "out/y.parquet"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed Copy left %q behind: %v", "out/y.parquet", err)
	}
}

// testList: List returns the objects under a prefix in byte order, each described as Head would.
func testList(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	// Put out of order; "a.txt" sorts before "a/…" in byte order ('.' < '/'), which a
	// depth-first folder walk gets wrong.
	all := []string{"x/y", "b", "a/c", "ab", "a/b/d", "a.txt", "a/b/e f"}
	data := map[string][]byte{}
	for i, k := range all {
		data[k] = Payload(i * 10)
		MustPut(t, b, k, data[k])
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a.txt", "a/b/d", "a/b/e f", "a/c", "ab", "b", "x/y"}},
		{"a", []string{"a.txt", "a/b/d", "a/b/e f", "a/c", "ab"}},
		{"a/", []string{"a/b/d", "a/b/e f", "a/c"}},
		{"a/b", []string{"a/b/d", "a/b/e f"}},
		{"a/b/e", []string{"a/b/e f"}},
		{"a/c", []string{"a/c"}},
		{"x/y", []string{"x/y"}},
		{"x/y/", nil},
		{"zzz", nil},
		{"nope/", nil},
		{"../", nil},
	} {
		objs, err := b.List(ctx, tc.prefix)
		if err != nil {
			t.Errorf("List(%q): %v", tc.prefix, err)
			continue
		}
		if got := Keys(objs); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
		for _, o := range objs {
			if o.Size != int64(len(data[o.Key])) || o.ETag != ETagOf(data[o.Key]) || o.Modified.IsZero() {
				t.Errorf("List(%q) entry %+v, want size %d, etag %s", tc.prefix, o, len(data[o.Key]), ETagOf(data[o.Key]))
			}
		}
	}
}

// testSpecialKeys: keys with spaces, pluses, percent escapes and non-ASCII are stored, read, listed
// and deleted as given, never decoded.
func testSpecialKeys(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	ks := []string{SpecialKey, "with space.csv", "plus+sign", "100%", "%2B", "ü/ñ/日本.csv", "a+b/c d/e%f"}
	for _, k := range ks {
		data := []byte("content of " + k)
		put := MustPut(t, b, k, data)
		if put.ETag != ETagOf(data) {
			t.Errorf("Put(%q) etag %s, want %s", k, put.ETag, ETagOf(data))
		}
		head, err := b.Head(ctx, k)
		if err != nil || head.ETag != put.ETag {
			t.Errorf("Head(%q) = %+v, %v; want etag %s", k, head, err, put.ETag)
		}
		rc, err := b.Open(ctx, k, put.ETag)
		if err != nil {
			t.Errorf("Open(%q): %v", k, err)
			continue
		}
		if got := ReadAll(t, rc); !bytes.Equal(got, data) {
			t.Errorf("Open(%q) read %q", k, got)
		}
	}
	// The form-decoded variant of a key is another key.
	if _, err := b.Head(ctx, "incoming/Settlement report  %20 ü.csv"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Head(decoded variant) error = %v, want store.ErrNotFound", err)
	}
	objs, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(ks)
	slices.Sort(want)
	if got := Keys(objs); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if objs, err := b.List(ctx, "incoming/Settlement report +"); err != nil || !slices.Equal(Keys(objs), []string{SpecialKey}) {
		t.Errorf("List(special prefix) = %q, %v", Keys(objs), err)
	}
	for _, k := range ks {
		if err := b.Delete(ctx, k); err != nil {
			t.Errorf("Delete(%q): %v", k, err)
		}
	}
	if objs, err := b.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Errorf("List after deleting all = %q, %v", Keys(objs), err)
	}
}

// testInvalidKeys: keys no bucket accepts fail with ErrInvalidKey, not transient.
func testInvalidKeys(t *testing.T, c Conformance) {
	ctx := t.Context()
	b := c.NewBucket(t)
	for _, k := range []string{"", strings.Repeat("k", 1025), "bad\xffutf8"} {
		_, err := b.Put(ctx, k, []byte("x"))
		if !errors.Is(err, store.ErrInvalidKey) || store.IsTransient(err) {
			t.Errorf("Put(%.20q) error = %v, want store.ErrInvalidKey", k, err)
		}
		if _, err := b.Head(ctx, k); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Head(%.20q) error = %v, want store.ErrInvalidKey", k, err)
		}
	}
}

// testCanceled: a write with a canceled context fails with context.Canceled, not transient, and
// writes nothing.
func testCanceled(t *testing.T, c Conformance) {
	b := c.NewBucket(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Put(ctx, "k", []byte("x")); !errors.Is(err, context.Canceled) || store.IsTransient(err) {
		t.Errorf("Put(canceled) error = %v, want context.Canceled, not transient", err)
	}
	if _, err := b.Head(t.Context(), "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("canceled Put left an object: %v", err)
	}
}
