package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/testkit/storetest"
)

// newTestClient returns a real SDK client for the server at url. Retries are kept (the failure tests
// need the SDK's give-up path) but fast: two attempts, no backoff.
func newTestClient(url string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		UsePathStyle: true, // a virtual-host bucket.127.0.0.1 name does not resolve
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 2
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			o.RateLimiter = ratelimit.None
		}),
	})
}

// fakeS3 is an in-process gofakes3 server with a bucket "raw". wrap, when given, sits in front of
// it to count, slow down or fail requests.
type fakeS3 struct {
	client *s3.Client
}

func newFakeS3(t testing.TB, wrap func(http.Handler) http.Handler) *fakeS3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("raw"); err != nil {
		t.Fatal(err)
	}
	h := gofakes3.New(backend).Server()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fakeS3{client: newTestClient(srv.URL)}
}

func (f *fakeS3) bucket(opts ...Option) *Bucket {
	return New(f.client, "raw", append([]Option{WithPartSizeForTesting(storetest.PartSize)}, opts...)...)
}

// pendingUploads lists the multipart uploads S3 still holds (and bills) for the bucket.
func (f *fakeS3) pendingUploads(t *testing.T) int {
	t.Helper()
	out, err := f.client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String("raw")})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

func isUploadPart(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Query().Has("partNumber")
}

func isAbort(r *http.Request) bool {
	return r.Method == http.MethodDelete && r.URL.Query().Has("uploadId")
}

func TestS3Conformance(t *testing.T) {
	storetest.Run(t, storetest.Conformance{
		NewBucket:          func(t *testing.T) store.Bucket { return newFakeS3(t, nil).bucket() },
		CommitETagIsStored: false,
	})
}

// A storetest.Payload of several parts goes up as a multipart upload with at most the configured number of
// parts in flight and at most concurrency+1 part buffers, and nothing is left pending afterwards.
func TestS3CreateMultipart(t *testing.T) {
	ctx := t.Context()
	var inFlight, maxInFlight, parts atomic.Int32
	f := newFakeS3(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isUploadPart(r) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
				}
				parts.Add(1)
				time.Sleep(20 * time.Millisecond) // long enough for the writer to get ahead
			}
			next.ServeHTTP(w, r)
		})
	})
	b := f.bucket(WithConcurrency(2))
	data := storetest.Payload(9*storetest.PartSize + 123)
	up, err := b.Create(ctx, "out/big.parquet")
	if err != nil {
		t.Fatal(err)
	}
	storetest.WriteInChunks(t, up, data)
	if got := f.pendingUploads(t); got != 1 {
		t.Errorf("pending multipart uploads while writing = %d, want 1", got)
	}
	obj, err := up.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(obj.ETag, "-10") {
		t.Errorf("Commit etag = %s, want a multipart etag of 10 parts", obj.ETag)
	}
	if got := parts.Load(); got != 10 {
		t.Errorf("UploadPart requests = %d, want 10", got)
	}
	if got := maxInFlight.Load(); got != 2 {
		t.Errorf("parts in flight at most %d, want 2", got)
	}
	if got, limit := up.(*s3Upload).allocated, 3; got > limit {
		t.Errorf("part buffers allocated = %d, want at most %d", got, limit)
	}
	if got := f.pendingUploads(t); got != 0 {
		t.Errorf("pending multipart uploads after Commit = %d", got)
	}
	rc, err := b.Open(ctx, "out/big.parquet", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := storetest.ReadAll(t, rc); string(got) != string(data) {
		t.Errorf("content differs: read %d bytes, wrote %d", len(got), len(data))
	}
}

func TestS3AbortMultipart(t *testing.T) {
	f := newFakeS3(t, nil)
	b := f.bucket()
	up, err := b.Create(t.Context(), "out/aborted")
	if err != nil {
		t.Fatal(err)
	}
	storetest.WriteInChunks(t, up, storetest.Payload(4*storetest.PartSize))
	if got := f.pendingUploads(t); got != 1 {
		t.Fatalf("pending multipart uploads before Abort = %d, want 1", got)
	}
	if err := up.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := f.pendingUploads(t); got != 0 {
		t.Errorf("pending multipart uploads after Abort = %d, want 0", got)
	}
}

// A failing UploadPart (after the SDK's own retry) ends the upload: the error says it is transient,
// the multipart upload is aborted and nothing appears at the key.
func TestS3CreatePartFailure(t *testing.T) {
	ctx := t.Context()
	var aborts atomic.Int32
	f := newFakeS3(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isUploadPart(r) && r.URL.Query().Get("partNumber") == "2" {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`)
				return
			}
			if isAbort(r) {
				aborts.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	b := f.bucket()
	up, err := b.Create(ctx, "out/failing")
	if err != nil {
		t.Fatal(err)
	}
	data := storetest.Payload(6 * storetest.PartSize)
	var werr error
	for len(data) > 0 && werr == nil { // the failure surfaces at a later Write or at Commit
		n := min(len(data), 4096)
		_, werr = up.Write(data[:n])
		data = data[n:]
	}
	if werr == nil {
		_, werr = up.Commit()
	}
	if werr == nil {
		t.Fatal("upload with a failing part succeeded")
	}
	if !store.IsTransient(werr) || !strings.Contains(werr.Error(), "s3://raw/out/failing") {
		t.Errorf("error = %v, want a transient error naming the object", werr)
	}
	var maxErr *retry.MaxAttemptsError
	if !errors.As(werr, &maxErr) {
		t.Errorf("error = %v, want the SDK to have retried first", werr)
	}
	if got := aborts.Load(); got != 1 {
		t.Errorf("AbortMultipartUpload requests = %d, want 1", got)
	}
	if got := f.pendingUploads(t); got != 0 {
		t.Errorf("pending multipart uploads after failure = %d, want 0", got)
	}
	if _, err := b.Head(ctx, "out/failing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Head after failed upload error = %v, want store.ErrNotFound", err)
	}
	if err := up.Abort(); err != nil {
		t.Errorf("Abort after failure: %v", err)
	}
	if got := aborts.Load(); got != 1 {
		t.Errorf("AbortMultipartUpload requests after a second Abort = %d, want 1", got)
	}
}

// Canceling the caller's context stops the upload, and the cleanup still reaches S3.
func TestS3CreateCanceled(t *testing.T) {
	f := newFakeS3(t, nil)
	b := f.bucket()
	ctx, cancel := context.WithCancel(t.Context())
	up, err := b.Create(ctx, "out/canceled")
	if err != nil {
		t.Fatal(err)
	}
	storetest.WriteInChunks(t, up, storetest.Payload(3*storetest.PartSize))
	cancel()
	if _, err := up.Commit(); !errors.Is(err, context.Canceled) || store.IsTransient(err) {
		t.Errorf("Commit after cancel error = %v, want context.Canceled, not transient", err)
	}
	if got := f.pendingUploads(t); got != 0 {
		t.Errorf("pending multipart uploads after cancel = %d, want 0", got)
	}
}

// S3 answers that gofakes3 cannot produce, served verbatim, parsed by the real SDK.
func TestS3ErrorMapping(t *testing.T) {
	ctx := t.Context()
	type canned struct {
		status int
		code   string
	}
	var mu sync.Mutex
	var next canned
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		c := next
		mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(c.status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>canned</Message><RequestId>R1</RequestId></Error>`, c.code)
		}
	}))
	defer srv.Close()
	b := New(newTestClient(srv.URL), "raw")

	for _, tc := range []struct {
		canned
		op           string
		notFound     bool
		precondition bool
		transient    bool
	}{
		{canned{404, "NoSuchKey"}, "get", true, false, false},
		{canned{404, ""}, "head", true, false, false},
		{canned{404, "NoSuchBucket"}, "get", false, false, false},
		{canned{412, "PreconditionFailed"}, "get", false, true, false},
		{canned{412, ""}, "head", false, true, false},
		{canned{403, "AccessDenied"}, "get", false, false, false},
		{canned{403, ""}, "head", false, false, false},
		{canned{400, "InvalidArgument"}, "put", false, false, false},
		{canned{503, "SlowDown"}, "put", false, false, true},
		{canned{500, "InternalError"}, "get", false, false, true},
		{canned{400, "RequestTimeout"}, "put", false, false, true},
		{canned{429, "TooManyRequests"}, "head", false, false, true},
		{canned{409, "OperationAborted"}, "delete", false, false, true},
	} {
		mu.Lock()
		next = tc.canned
		mu.Unlock()
		var err error
		switch tc.op {
		case "get":
			_, err = b.Open(ctx, "in/x.csv", `"abc"`)
		case "head":
			_, err = b.Head(ctx, "in/x.csv")
		case "put":
			_, err = b.Put(ctx, "in/x.csv", []byte("x"))
		case "delete":
			err = b.Delete(ctx, "in/x.csv")
		}
		name := fmt.Sprintf("%s answered %d %s", tc.op, tc.status, tc.code)
		switch {
		case err == nil:
			t.Errorf("%s: no error", name)
		case errors.Is(err, store.ErrNotFound) != tc.notFound:
			t.Errorf("%s: errors.Is(%v, store.ErrNotFound) = %v", name, err, !tc.notFound)
		case errors.Is(err, store.ErrPreconditionFailed) != tc.precondition:
			t.Errorf("%s: errors.Is(%v, store.ErrPreconditionFailed) = %v", name, err, !tc.precondition)
		case store.IsTransient(err) != tc.transient:
			t.Errorf("%s: store.IsTransient(%v) = %v", name, err, !tc.transient)
		case !strings.Contains(err.Error(), "s3://raw/in/x.csv"):
			t.Errorf("%s: error %q does not name the object", name, err)
		}
	}

	srv.Close() // nothing listens now: a connection error
	if _, err := b.Head(ctx, "in/x.csv"); !store.IsTransient(err) {
		t.Errorf("Head with the server down: store.IsTransient(%v) = false", err)
	}
}

// gofakes3 ignores If-Match on GET; the client-side check keeps Open honest there. This test pins the
// quirk, so that if a gofakes3 upgrade starts enforcing it the comment in Open can go.
func TestS3FakeIgnoresIfMatchOnGet(t *testing.T) {
	f := newFakeS3(t, nil)
	ctx := t.Context()
	if _, err := f.bucket().Put(ctx, "k", []byte("x")); err != nil {
		t.Fatal(err)
	}
	out, err := f.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("raw"), Key: aws.String("k"), IfMatch: aws.String(`"0000"`)})
	if err != nil {
		t.Skipf("gofakes3 now enforces If-Match on GET (%v)", err)
	}
	out.Body.Close()
}

// ListObjectsV2 returns at most 1000 storetest.Keys a page; List follows the continuation tokens.
func TestS3ListPaginates(t *testing.T) {
	ctx := t.Context()
	b := newFakeS3(t, nil).bucket()
	const n = 1001
	for i := range n {
		storetest.MustPut(t, b, fmt.Sprintf("p/%04d", n-1-i), nil)
	}
	storetest.MustPut(t, b, "q/outside", nil)
	objs, err := b.List(ctx, "p/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != n || objs[0].Key != "p/0000" || objs[n-1].Key != fmt.Sprintf("p/%04d", n-1) {
		t.Fatalf("List returned %d objects (first %q), want %d from p/0000", len(objs), storetest.Keys(objs[:1]), n)
	}
	for i := 1; i < n; i++ {
		if objs[i-1].Key >= objs[i].Key {
			t.Fatalf("List out of order at %d: %q then %q", i, objs[i-1].Key, objs[i].Key)
		}
	}
}

func TestS3PartSizeOptions(t *testing.T) {
	for _, tc := range []struct {
		opt  Option
		want int64
	}{
		{nil, DefaultPartSize},
		{WithPartSize(1 << 20), MinPartSize},
		{WithPartSize(16 << 20), 16 << 20},
		{WithPartSize(1 << 40), maxPartSize},
		{WithPartSizeForTesting(1024), 1024},
	} {
		var opts []Option
		if tc.opt != nil {
			opts = append(opts, tc.opt)
		}
		if got := New(nil, "raw", opts...).partSize; got != tc.want {
			t.Errorf("part size = %d, want %d", got, tc.want)
		}
	}
	if got := New(nil, "raw", WithConcurrency(0)).concurrency; got != 1 {
		t.Errorf("WithConcurrency(0) gives %d parts in flight, want 1", got)
	}
}
