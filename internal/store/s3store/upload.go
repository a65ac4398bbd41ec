package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/paysettle/settle/internal/store"
)

var errAborted = errors.New("upload aborted")

// Create starts a streaming upload of key. Bytes are buffered up to the part size; an object that
// fits in one part is sent with a single PutObject at Commit (its ETag is then the MD5, as for Put).
// A larger one becomes a multipart upload whose parts are sent in the background as they fill, at
// most concurrency at a time, so memory stays below (concurrency+1) × part size. Any failure aborts
// the multipart upload, so no invisible parts are left behind.
func (s *Bucket) Create(ctx context.Context, key string) (store.Upload, error) {
	return s.CreateIf(ctx, key, store.Precondition{})
}

// CreateIf is Create with a precondition that S3 checks when the upload commits (If-None-Match or
// If-Match on the PutObject or the CompleteMultipartUpload): a commit that finds it false fails with
// store.ErrPreconditionFailed and leaves the key as it was.
func (s *Bucket) CreateIf(ctx context.Context, key string, pre store.Precondition) (store.Upload, error) {
	if err := s.checkKey("create", key); err != nil {
		return nil, err
	}
	uctx, cancel := context.WithCancelCause(ctx)
	return &s3Upload{
		s:      s,
		key:    key,
		pre:    pre,
		parent: ctx,
		ctx:    uctx,
		cancel: cancel,
		free:   make(chan []byte, s.concurrency+1),
		slots:  make(chan struct{}, s.concurrency),
	}, nil
}

// s3Upload is an object being streamed to S3. Write and Commit are for one goroutine; the parts it
// starts run in their own.
type s3Upload struct {
	s      *Bucket
	key    string
	pre    store.Precondition      // checked by S3 at Commit
	parent context.Context         // the caller's, for the cleanup after a failure
	ctx    context.Context         // canceled on failure or Abort, to stop the parts in flight
	cancel context.CancelCauseFunc // records why ctx was canceled

	buf   []byte        // the part being filled
	free  chan []byte   // buffers of finished parts, for reuse
	slots chan struct{} // one token per part in flight
	wg    sync.WaitGroup

	uploadID  *string // set once the first part is full
	nextPart  int32
	size      int64
	done      bool
	allocated int // full-size part buffers made; at most concurrency+1

	mu    sync.Mutex
	parts []types.CompletedPart
	err   error // first failure of a part
}

func (u *s3Upload) where() string { return u.s.where(u.key) }

func (u *s3Upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, fmt.Errorf("write %s: %w", u.where(), store.ErrUploadClosed)
	}
	written := 0
	for len(p) > 0 {
		// A full buffer is sent only when more bytes arrive, so an object of exactly one part
		// still goes up as a single PutObject.
		if int64(len(u.buf)) == u.s.partSize {
			if err := u.sendPart(); err != nil {
				return written, u.fail(err)
			}
		}
		n := min(len(p), int(u.s.partSize)-len(u.buf))
		u.grow(n)
		u.buf = append(u.buf, p[:n]...)
		p = p[n:]
		written += n
		u.size += int64(n)
	}
	return written, nil
}

// grow makes room for n more bytes in the first buffer, doubling up to the part size so that a small
// object does not cost a whole part of memory.
func (u *s3Upload) grow(n int) {
	if cap(u.buf)-len(u.buf) >= n {
		return
	}
	size := min(max(2*cap(u.buf), len(u.buf)+n, 64<<10), int(u.s.partSize))
	if size == int(u.s.partSize) {
		u.allocated++
	}
	buf := make([]byte, len(u.buf), size)
	copy(buf, u.buf)
	u.buf = buf
}

// spare returns an empty full-size buffer: one a finished part gave back, or a new one. A new one is
// only needed while fewer than concurrency+1 exist, because sendPart got its slot from a finished
// part, which returned its buffer first.
func (u *s3Upload) spare() []byte {
	select {
	case b := <-u.free:
		return b
	default:
		u.allocated++
		return make([]byte, 0, u.s.partSize)
	}
}

// sendPart starts the multipart upload if needed and uploads u.buf as the next part in the
// background, waiting while concurrency parts are already in flight.
func (u *s3Upload) sendPart() error {
	if u.uploadID == nil {
		out, err := u.s.client.CreateMultipartUpload(u.ctx, &s3.CreateMultipartUploadInput{
			Bucket: &u.s.bucket,
			Key:    &u.key,
			// With an algorithm named here, S3 checks every part's CRC32 and Complete must list
			// them; this is what the SDK's own upload manager does.
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return u.s.wrap("create multipart upload", u.key, err)
		}
		u.uploadID = out.UploadId
	}
	if u.nextPart == maxParts {
		return fmt.Errorf("upload %s: more than %d parts of %d bytes; raise the part size", u.where(), maxParts, u.s.partSize)
	}
	select {
	case u.slots <- struct{}{}:
	case <-u.ctx.Done():
		return u.failure()
	}
	if err := u.failure(); err != nil {
		<-u.slots
		return err
	}
	u.nextPart++
	num, body := u.nextPart, u.buf
	u.buf = u.spare()
	u.wg.Add(1)
	go u.uploadPart(num, body)
	return nil
}

func (u *s3Upload) uploadPart(num int32, body []byte) {
	defer u.wg.Done()
	out, err := u.s.client.UploadPart(u.ctx, &s3.UploadPartInput{
		Bucket:            &u.s.bucket,
		Key:               &u.key,
		UploadId:          u.uploadID,
		PartNumber:        aws.Int32(num),
		Body:              bytes.NewReader(body),
		ContentLength:     aws.Int64(int64(len(body))),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	u.mu.Lock()
	if err != nil && u.err == nil {
		u.err = u.s.wrap(fmt.Sprintf("upload part %d of", num), u.key, err)
		u.cancel(u.err) // no point sending the other parts
	}
	if err == nil {
		u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	}
	u.mu.Unlock()
	select { // before giving back the slot, so the next part reuses this buffer
	case u.free <- body[:0]:
	default: // cannot happen while at most concurrency+1 buffers exist; never block on it
	}
	<-u.slots
}

// failure returns why the upload cannot go on: a part's error, or the context's.
func (u *s3Upload) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return u.err
	}
	if u.ctx.Err() != nil {
		return fmt.Errorf("upload %s: %w", u.where(), context.Cause(u.ctx))
	}
	return nil
}

// Commit sends what is buffered (one PutObject, or the last part) and completes the multipart
// upload with its parts in order.
func (u *s3Upload) Commit() (store.Object, error) {
	if u.done {
		return store.Object{}, fmt.Errorf("commit %s: %w", u.where(), store.ErrUploadClosed)
	}
	if u.uploadID == nil {
		u.done = true
		defer u.release()
		in := &s3.PutObjectInput{
			Bucket:        &u.s.bucket,
			Key:           &u.key,
			Body:          bytes.NewReader(u.buf),
			ContentLength: aws.Int64(int64(len(u.buf))),
		}
		in.IfNoneMatch, in.IfMatch = u.conditions()
		out, err := u.s.client.PutObject(u.ctx, in)
		if err != nil {
			return store.Object{}, u.wrap("put", err)
		}
		return store.Object{Key: u.key, Size: u.size, ETag: etagOf(out.ETag), Modified: time.Now().UTC()}, nil
	}
	if len(u.buf) > 0 {
		if err := u.sendPart(); err != nil {
			return store.Object{}, u.fail(err)
		}
	}
	u.wg.Wait()
	if err := u.failure(); err != nil {
		return store.Object{}, u.fail(err)
	}
	slices.SortFunc(u.parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          &u.s.bucket,
		Key:             &u.key,
		UploadId:        u.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts},
	}
	in.IfNoneMatch, in.IfMatch = u.conditions()
	out, err := u.s.client.CompleteMultipartUpload(u.ctx, in)
	if err != nil {
		return store.Object{}, u.fail(u.wrap("complete multipart upload", err))
	}
	u.done = true
	u.release()
	return store.Object{Key: u.key, Size: u.size, ETag: etagOf(out.ETag), Modified: time.Now().UTC()}, nil
}

// conditions are the If-None-Match and If-Match headers of the upload's precondition.
func (u *s3Upload) conditions() (ifNoneMatch, ifMatch *string) {
	switch {
	case u.pre.IfAbsent:
		return aws.String("*"), nil
	case u.pre.IfMatch != "":
		return nil, ifMatchHeader(u.pre.IfMatch)
	}
	return nil, nil
}

// wrap is the bucket's wrap for the upload's commit, wrapConditional when it has a precondition.
func (u *s3Upload) wrap(op string, err error) error {
	if u.pre == (store.Precondition{}) {
		return u.s.wrap(op, u.key, err)
	}
	return u.s.wrapConditional(op, u.key, u.pre, err)
}

// Abort stops the parts in flight and aborts the multipart upload; after Commit it does nothing.
func (u *s3Upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	return u.abort()
}

// fail ends the upload after err, cleaning up as Abort does, and returns err (joined with a failure
// to clean up, if any).
func (u *s3Upload) fail(err error) error {
	u.done = true
	if aerr := u.abort(); aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
}

func (u *s3Upload) abort() error {
	u.cancel(errAborted)
	u.wg.Wait()
	u.release()
	if u.uploadID == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.parent), cleanupTimeout)
	defer cancel()
	_, err := u.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   &u.s.bucket,
		Key:      &u.key,
		UploadId: u.uploadID,
	})
	if err != nil && !isS3Code(err, "NoSuchUpload", http.StatusNotFound) {
		return u.s.wrap("abort multipart upload", u.key, err)
	}
	return nil
}

// release drops the buffers, for callers that keep a finished Upload around.
func (u *s3Upload) release() {
	u.cancel(store.ErrUploadClosed)
	u.buf = nil
	for {
		select {
		case <-u.free:
		default:
			return
		}
	}
}
