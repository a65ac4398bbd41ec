// Package store is the pipeline's object storage: one small interface over a bucket, the error kinds its
// implementations map their failures onto, and a local folder implementation (Dir) for `settle run` and
// tests. The Amazon S3 implementation is package s3store, so that nothing but the Lambda wiring links
// the AWS SDK; storetest is the conformance suite both pass.
//
// Keys are S3-style: slash-separated, no leading slash. ETags are reported unquoted
// ("9e107d9d372bb6826bd81d3542a419d6"), the form S3 puts in its events and the pipeline keeps everywhere;
// the quotes HTTP puts around them are removed here, at the boundary. An ETag given to the store (an
// If-Match) may be quoted or not.
//
// Writes can be conditional (PutIf, DeleteIf), with S3's semantics: a write made on a version of an
// object that another writer has replaced meanwhile fails with ErrPreconditionFailed instead of
// overwriting it. The pipeline's commit is built on that (see the workflow package).
//
// Failures wrap ErrNotFound, ErrPreconditionFailed or ErrInvalidKey where those apply (test with
// errors.Is); IsTransient tells the failures worth retrying (throttling, 5xx, network, local I/O: what
// an implementation marks with Transient) from the ones another attempt would repeat.
package store

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped, test with errors.Is) when a key does not exist.
var ErrNotFound = errors.New("object not found")

// ErrPreconditionFailed is returned (wrapped) when a read names an ETag and the object now has another
// (the object was overwritten after its event was sent), and when the precondition of a conditional
// write or delete does not hold (another writer got there first).
var ErrPreconditionFailed = errors.New("object changed: etag does not match")

// MaxGetBytes is the largest object Get reads whole. Get is for the pipeline's small JSON objects
// (manifests, claims); anything larger is streamed with Open.
const MaxGetBytes = 64 << 20

// Precondition makes a write conditional on what is stored at its key, as S3's If-None-Match and
// If-Match headers do. The zero value is no condition.
type Precondition struct {
	// IfAbsent: write only when no object exists at the key (If-None-Match: *).
	IfAbsent bool
	// IfMatch: write only when the object at the key has this ETag, quoted or not (If-Match).
	IfMatch string
}

// String describes the precondition for messages.
func (p Precondition) String() string {
	switch {
	case p.IfAbsent:
		return "if absent"
	case p.IfMatch != "":
		return "if etag " + p.IfMatch
	}
	return "unconditional"
}

// Object describes a stored object.
type Object struct {
	Key      string
	Size     int64
	ETag     string // unquoted, as in S3's events
	Modified time.Time
}

// Bucket is one bucket (or folder) of objects.
type Bucket interface {
	// Name is the bucket's name, as it appears in events and s3:// URLs.
	Name() string
	// Head describes key without reading it.
	Head(ctx context.Context, key string) (Object, error)
	// Open streams the object. When ifMatch is not empty the read fails with ErrPreconditionFailed
	// unless the object's ETag (quoted or not) equals it.
	Open(ctx context.Context, key, ifMatch string) (io.ReadCloser, error)
	// OpenRange streams length bytes from offset (fewer at the end of the object), with the same ifMatch rule.
	OpenRange(ctx context.Context, key, ifMatch string, offset, length int64) (io.ReadCloser, error)
	// Create starts a streaming upload of key. Nothing is visible at key until Commit returns nil;
	// Abort discards what was written. Memory use is bounded whatever the object's size.
	Create(ctx context.Context, key string) (Upload, error)
	// Copy makes dst a copy of src (the same bytes and ETag) without streaming it through the caller:
	// a server-side copy on S3, a hard link in a folder. Like an upload, dst changes atomically.
	Copy(ctx context.Context, src, dst string) (Object, error)
	// Put writes a small object in one call.
	Put(ctx context.Context, key string, data []byte) (Object, error)
	// Get reads a small object whole (at most MaxGetBytes) and describes the version it read, whose
	// ETag a later PutIf or DeleteIf can be made conditional on.
	Get(ctx context.Context, key string) ([]byte, Object, error)
	// PutIf is Put when pre holds at the moment of the write, and otherwise fails with
	// ErrPreconditionFailed, changing nothing. Of two conditional writers racing on one version of an
	// object, exactly one succeeds.
	PutIf(ctx context.Context, key string, data []byte, pre Precondition) (Object, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// DeleteIf removes key only when its ETag is etag: ErrPreconditionFailed when it has another,
	// ErrNotFound when there is none.
	DeleteIf(ctx context.Context, key, etag string) error
	// List returns the objects whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string) ([]Object, error)
}

// Versioned is implemented by a bucket that keeps every version of its objects (S3 with versioning on):
// a version stays readable by its id after its key is overwritten. A reader that must read exactly the
// object an event announced reads it by version when the key holds another object by then.
type Versioned interface {
	// HeadVersion describes one version of key.
	HeadVersion(ctx context.Context, key, versionID string) (Object, error)
	// OpenVersionRange streams length bytes from offset of one version of key, with OpenRange's ifMatch rule.
	OpenVersionRange(ctx context.Context, key, versionID, ifMatch string, offset, length int64) (io.ReadCloser, error)
}

// Upload is an object being written.
type Upload interface {
	io.Writer
	// Commit makes the object visible at its key, atomically, and describes it.
	Commit() (Object, error)
	// Abort discards the upload. It is safe to call after Commit (it then does nothing).
	Abort() error
}

// UnquoteETag strips the quotes HTTP puts around an ETag: for ETags from outside the store (an SDK
// response, an event, a user).
func UnquoteETag(etag string) string { return strings.Trim(etag, `"`) }
