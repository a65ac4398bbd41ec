// Package s3store is the store.Bucket of an Amazon S3 bucket, through the AWS SDK for Go v2. It maps S3's
// answers onto the store's error kinds (a missing key is store.ErrNotFound, a failed condition
// store.ErrPreconditionFailed, throttling, 5xx and network failures are marked store.Transient), so the
// rest of the pipeline never sees an SDK error type.
package s3store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/paysettle/settle/internal/store"
)

// Part sizes and limits of S3 multipart uploads.
const (
	// DefaultPartSize is the part size Create uses unless told otherwise: large enough that a
	// settlement report of a few hundred MB takes a few dozen requests, small enough for a 512 MB Lambda.
	DefaultPartSize = 8 << 20
	// MinPartSize is the smallest part S3 accepts (except the last one).
	MinPartSize = 5 << 20
	// maxPartSize and maxParts are S3's limits; together they cap an object at 10,000 × PartSize.
	maxPartSize = 5 << 30
	maxParts    = 10000
	// DefaultConcurrency is how many parts Create uploads at once by default.
	DefaultConcurrency = 2
)

// cleanupTimeout bounds the AbortMultipartUpload sent after a failure. It runs on a context that
// ignores the caller's cancellation: a Lambda out of time should still try not to leave parts
// behind (which S3 bills until a lifecycle rule removes them; the template should have
// AbortIncompleteMultipartUpload as a backstop).
const cleanupTimeout = 30 * time.Second

// Bucket is a store.Bucket in Amazon S3.
//
// Head, Open and List report what S3 stores. Put and Commit report the ETag S3 returns and the
// local clock as Modified, since S3 does not return Last-Modified on writes and a HeadObject per
// write would cost a request and could describe a later writer's object.
//
// S3 answers 403, not 404, for a missing key when the caller may not list the bucket: grant
// s3:ListBucket so that a missing object surfaces as store.ErrNotFound.
type Bucket struct {
	client      *s3.Client
	bucket      string
	partSize    int64
	concurrency int
}

var _ store.Bucket = (*Bucket)(nil)

// Option configures an S3 bucket.
type Option func(*Bucket)

// WithPartSize sets the size of the parts Create uploads, clamped to what S3 accepts (5 MiB to 5 GiB).
// Create holds at most (concurrency+1) parts in memory.
func WithPartSize(n int64) Option {
	return func(s *Bucket) { s.partSize = min(max(n, MinPartSize), maxPartSize) }
}

// WithPartSizeForTesting sets the part size without S3's 5 MiB minimum, so tests against an S3 fake
// can exercise multipart uploads with small payloads. Real S3 rejects such uploads at Commit.
func WithPartSizeForTesting(n int64) Option {
	return func(s *Bucket) { s.partSize = max(n, 1) }
}

// WithConcurrency sets how many parts Create uploads at once (at least 1).
func WithConcurrency(n int) Option {
	return func(s *Bucket) { s.concurrency = max(n, 1) }
}

// New returns the bucket called bucket, reached through client.
func New(client *s3.Client, bucket string, opts ...Option) *Bucket {
	s := &Bucket{client: client, bucket: bucket, partSize: DefaultPartSize, concurrency: DefaultConcurrency}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name returns the bucket's name.
func (s *Bucket) Name() string { return s.bucket }

func (s *Bucket) where(key string) string { return "s3://" + s.bucket + "/" + key }

// wrap names the operation and object in err and maps S3's answers to the store's error kinds: a missing
// key is store.ErrNotFound, a failed condition store.ErrPreconditionFailed (the SDK error is dropped for
// those: its request ids do not help), and a failure worth retrying is marked store.Transient.
func (s *Bucket) wrap(op, key string, err error) error {
	switch {
	case isS3NotFound(err):
		return fmt.Errorf("%s %s: %w", op, s.where(key), store.ErrNotFound)
	case isS3Code(err, "PreconditionFailed", http.StatusPreconditionFailed):
		return fmt.Errorf("%s %s: %w", op, s.where(key), store.ErrPreconditionFailed)
	}
	wrapped := fmt.Errorf("%s %s: %w", op, s.where(key), err)
	if retryable(err) {
		return store.Transient(wrapped)
	}
	return wrapped
}

func (s *Bucket) checkKey(op, key string) error {
	if reason := store.CheckKey(key); reason != "" {
		return fmt.Errorf("%s %s: %w %q: %s", op, s.where(""), store.ErrInvalidKey, key, reason)
	}
	return nil
}

// etagOf is an ETag as S3 returns it (quoted, as HTTP has it), as the store reports ETags: unquoted.
func etagOf(quoted *string) string { return store.UnquoteETag(aws.ToString(quoted)) }

// ifMatchHeader returns the If-Match value for etag, quoted as HTTP requires, or nil for none.
func ifMatchHeader(etag string) *string {
	if etag == "" {
		return nil
	}
	return aws.String(`"` + store.UnquoteETag(etag) + `"`)
}

// Head describes key with HeadObject.
func (s *Bucket) Head(ctx context.Context, key string) (store.Object, error) {
	return s.head(ctx, "head", key, "")
}

// HeadVersion describes one version of key (store.Versioned).
func (s *Bucket) HeadVersion(ctx context.Context, key, versionID string) (store.Object, error) {
	return s.head(ctx, "head version "+versionID+" of", key, versionID)
}

func (s *Bucket) head(ctx context.Context, op, key, versionID string) (store.Object, error) {
	if err := s.checkKey(op, key); err != nil {
		return store.Object{}, err
	}
	in := &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key}
	if versionID != "" {
		in.VersionId = &versionID
	}
	out, err := s.client.HeadObject(ctx, in)
	if err != nil {
		return store.Object{}, s.wrap(op, key, err)
	}
	return store.Object{
		Key:      key,
		Size:     aws.ToInt64(out.ContentLength),
		ETag:     etagOf(out.ETag),
		Modified: aws.ToTime(out.LastModified),
	}, nil
}

// Open streams key with GetObject. S3 enforces ifMatch itself; the ETag of the response is checked
// as well, so that S3-compatible servers that ignore If-Match on reads (gofakes3 does) cannot hand
// out another version.
func (s *Bucket) Open(ctx context.Context, key, ifMatch string) (io.ReadCloser, error) {
	return s.get(ctx, "get", key, ifMatch, "", "")
}

// OpenRange streams length bytes of key from offset with a ranged GetObject. A range that starts past
// the end (S3 answers 416 InvalidRange), an empty object and length 0 give an empty reader.
func (s *Bucket) OpenRange(ctx context.Context, key, ifMatch string, offset, length int64) (io.ReadCloser, error) {
	return s.openRange(ctx, "get range", key, "", ifMatch, offset, length)
}

// OpenVersionRange is OpenRange on one version of key (store.Versioned).
func (s *Bucket) OpenVersionRange(ctx context.Context, key, versionID, ifMatch string, offset, length int64) (io.ReadCloser, error) {
	return s.openRange(ctx, "get range of version "+versionID+" of", key, versionID, ifMatch, offset, length)
}

func (s *Bucket) openRange(ctx context.Context, op, key, versionID, ifMatch string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("%s %s: invalid range: offset %d, length %d", op, s.where(key), offset, length)
	}
	if length == 0 {
		return s.emptyIfMatch(ctx, op, key, versionID, ifMatch)
	}
	rng := fmt.Sprintf("bytes=%d-", offset) // to the end when offset+length would overflow
	if length <= math.MaxInt64-offset {
		rng = fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
	}
	return s.get(ctx, op, key, ifMatch, rng, versionID)
}

// emptyIfMatch returns an empty reader for a read that selects no bytes of key, after checking that
// key exists and, when asked, still has the ETag ifMatch: S3's 416 answer does not say.
func (s *Bucket) emptyIfMatch(ctx context.Context, op, key, versionID, ifMatch string) (io.ReadCloser, error) {
	obj, err := s.head(ctx, "head", key, versionID)
	if err != nil {
		return nil, err
	}
	if ifMatch != "" && obj.ETag != store.UnquoteETag(ifMatch) {
		return nil, fmt.Errorf("%s %s: %w (want %s, have %s)", op, s.where(key), store.ErrPreconditionFailed, ifMatch, obj.ETag)
	}
	return io.NopCloser(strings.NewReader("")), nil
}

// get is GetObject with an optional If-Match and Range.
func (s *Bucket) get(ctx context.Context, op, key, ifMatch, rng, versionID string) (io.ReadCloser, error) {
	if err := s.checkKey(op, key); err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key, IfMatch: ifMatchHeader(ifMatch)}
	if rng != "" {
		in.Range = &rng
	}
	if versionID != "" {
		in.VersionId = &versionID
	}
	out, err := s.client.GetObject(ctx, in)
	if rng != "" && isS3Code(err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable) {
		return s.emptyIfMatch(ctx, op, key, versionID, ifMatch)
	}
	if err != nil {
		return nil, s.wrap(op, key, err)
	}
	if ifMatch != "" && etagOf(out.ETag) != store.UnquoteETag(ifMatch) {
		out.Body.Close()
		return nil, fmt.Errorf("%s %s: %w (want %s, have %s)", op, s.where(key), store.ErrPreconditionFailed, ifMatch, aws.ToString(out.ETag))
	}
	return &s3Body{ReadCloser: out.Body, where: s.where(key)}, nil
}

// s3Body marks read errors on an object's stream as transient: the object was there and readable, so
// the failure is the connection, and a new attempt may succeed. The mark keeps such errors apart from
// the caller's own parse errors (a truncated Parquet footer also reports io.ErrUnexpectedEOF, and that
// one is the data's fault).
type s3Body struct {
	io.ReadCloser
	where string
}

func (b *s3Body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = store.Transient(fmt.Errorf("read %s: %w", b.where, err))
	}
	return n, err
}

// maxCopySize is the largest object one CopyObject copies; larger ones need a multipart copy.
const maxCopySize = 5 << 30

// Copy copies src to dst inside the bucket with CopyObject, on S3's side. The copy is conditional on
// the ETag that HeadObject reported, so a src overwritten in between fails instead of copying another
// version. Objects over 5 GiB (a Parquet file of a settlement batch is a fraction of its CSV, which
// MaxFileBytes caps well below that) are refused with a clear error.
func (s *Bucket) Copy(ctx context.Context, src, dst string) (store.Object, error) {
	const op = "copy"
	if err := s.checkKey(op, dst); err != nil {
		return store.Object{}, err
	}
	obj, err := s.Head(ctx, src)
	if err != nil {
		return store.Object{}, err
	}
	if obj.Size > maxCopySize {
		return store.Object{}, fmt.Errorf("copy %s to %s: %d bytes is over the 5 GiB a single CopyObject copies", s.where(src), s.where(dst), obj.Size)
	}
	source := copySource(s.bucket, src)
	out, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: &dst, CopySource: &source, CopySourceIfMatch: &obj.ETag})
	if err != nil {
		return store.Object{}, s.wrap(op, dst, err)
	}
	res := store.Object{Key: dst, Size: obj.Size, ETag: obj.ETag, Modified: time.Now().UTC()}
	if out.CopyObjectResult != nil {
		if e := etagOf(out.CopyObjectResult.ETag); e != "" {
			res.ETag = e
		}
		if t := aws.ToTime(out.CopyObjectResult.LastModified); !t.IsZero() {
			res.Modified = t
		}
	}
	return res, nil
}

// copySource is CopyObject's x-amz-copy-source: bucket/key with each segment URL-encoded.
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return bucket + "/" + strings.Join(segs, "/")
}

// Put writes data to key with one PutObject.
func (s *Bucket) Put(ctx context.Context, key string, data []byte) (store.Object, error) {
	const op = "put"
	if err := s.checkKey(op, key); err != nil {
		return store.Object{}, err
	}
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return store.Object{}, s.wrap(op, key, err)
	}
	return store.Object{Key: key, Size: int64(len(data)), ETag: etagOf(out.ETag), Modified: time.Now().UTC()}, nil
}

// PutIf writes data to key with a conditional PutObject (If-None-Match: * or If-Match). S3 answers
// 412 when the condition fails, 404 to an If-Match on a key that has no object, and 409
// ConditionalRequestConflict when another conditional write to the key is in progress: all three mean
// that the caller's view of the key is stale, and all three are store.ErrPreconditionFailed.
func (s *Bucket) PutIf(ctx context.Context, key string, data []byte, pre store.Precondition) (store.Object, error) {
	const op = "put if"
	if pre == (store.Precondition{}) {
		return s.Put(ctx, key, data)
	}
	if err := s.checkKey(op, key); err != nil {
		return store.Object{}, err
	}
	in := &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	}
	if pre.IfAbsent {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = ifMatchHeader(pre.IfMatch)
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return store.Object{}, s.wrapConditional(op, key, pre, err)
	}
	return store.Object{Key: key, Size: int64(len(data)), ETag: etagOf(out.ETag), Modified: time.Now().UTC()}, nil
}

// wrapConditional is wrap for a conditional write: a lost race, however S3 words it, is
// store.ErrPreconditionFailed.
func (s *Bucket) wrapConditional(op, key string, pre store.Precondition, err error) error {
	if isS3NotFound(err) || isS3Code(err, "ConditionalRequestConflict", http.StatusConflict) {
		return fmt.Errorf("%s %s (%s): %w", op, s.where(key), pre, store.ErrPreconditionFailed)
	}
	return fmt.Errorf("%w (%s)", s.wrap(op, key, err), pre)
}

// Get reads key whole with GetObject and reports the ETag of the version it read.
func (s *Bucket) Get(ctx context.Context, key string) ([]byte, store.Object, error) {
	const op = "get"
	if err := s.checkKey(op, key); err != nil {
		return nil, store.Object{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, store.Object{}, s.wrap(op, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, store.MaxGetBytes+1))
	if err != nil {
		return nil, store.Object{}, store.Transient(fmt.Errorf("%s %s: %w", op, s.where(key), err))
	}
	if len(data) > store.MaxGetBytes {
		return nil, store.Object{}, fmt.Errorf("%s %s: larger than the %d bytes Get reads", op, s.where(key), store.MaxGetBytes)
	}
	return data, store.Object{Key: key, Size: int64(len(data)), ETag: etagOf(out.ETag), Modified: aws.ToTime(out.LastModified)}, nil
}

// DeleteIf removes key with a conditional DeleteObject (If-Match). S3 answers 412 when the object has
// another ETag and 404 when there is none.
func (s *Bucket) DeleteIf(ctx context.Context, key, etag string) error {
	const op = "delete if"
	if err := s.checkKey(op, key); err != nil {
		return err
	}
	if etag == "" {
		return fmt.Errorf("%s %s: no etag given", op, s.where(key))
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key, IfMatch: ifMatchHeader(etag)})
	if isS3Code(err, "ConditionalRequestConflict", http.StatusConflict) {
		return fmt.Errorf("%s %s: %w", op, s.where(key), store.ErrPreconditionFailed)
	}
	if err != nil {
		return s.wrap(op, key, err)
	}
	return nil
}

// Delete removes key with DeleteObject, which S3 also answers with success for a missing key.
func (s *Bucket) Delete(ctx context.Context, key string) error {
	const op = "delete"
	if err := s.checkKey(op, key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil && !isS3NotFound(err) {
		return s.wrap(op, key, err)
	}
	return nil
}

// List pages through ListObjectsV2; S3 returns keys in byte order, which is the order List promises.
func (s *Bucket) List(ctx context.Context, prefix string) ([]store.Object, error) {
	var objs []store.Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.wrap("list", prefix, err)
		}
		for _, o := range page.Contents {
			objs = append(objs, store.Object{
				Key:      aws.ToString(o.Key),
				Size:     aws.ToInt64(o.Size),
				ETag:     etagOf(o.ETag),
				Modified: aws.ToTime(o.LastModified),
			})
		}
	}
	return objs, nil
}
