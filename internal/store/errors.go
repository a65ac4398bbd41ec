package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// ErrInvalidKey is returned (wrapped) for a key that cannot name an object: empty, too long, not UTF-8,
// or, for a Dir, one that would escape or alias the folder. Retrying cannot help.
var ErrInvalidKey = errors.New("invalid key")

// errUploadClosed is returned by an Upload used after Commit or Abort.
var errUploadClosed = errors.New("upload already committed or aborted")

// maxKeyBytes is S3's limit on a key's length; Dir applies it too so that a key that works locally
// also works in the cloud.
const maxKeyBytes = 1024

// checkKey applies the rules every bucket shares and returns why key is invalid, or "".
func checkKey(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > maxKeyBytes:
		return fmt.Sprintf("longer than %d bytes", maxKeyBytes)
	case !utf8.ValidString(key):
		return "not valid UTF-8"
	}
	return ""
}

// streamError marks a failure while reading an object's body after it was opened: the object was
// there and readable, so the failure is the connection or the disk, and a new attempt may succeed.
// Wrapping it keeps such errors apart from the caller's own parse errors (a truncated Parquet
// footer also reports io.ErrUnexpectedEOF, and that one is the data's fault).
type streamError struct {
	op, where string
	err       error
}

func (e *streamError) Error() string { return e.op + " " + e.where + ": " + e.err.Error() }
func (e *streamError) Unwrap() error { return e.err }

// transientCodes are S3 error codes worth another attempt that the SDK's own retry tables leave
// out, because they need a short wait (a concurrent writer, a refreshed credential) or describe
// bytes damaged in transit rather than the request itself.
var transientCodes = map[string]bool{
	"InternalError":              true,
	"ServiceUnavailable":         true,
	"OperationAborted":           true, // a conflicting operation on the same bucket or key is in progress
	"ConditionalRequestConflict": true, // a concurrent conditional write; the next attempt decides
	"RequestTimeTooSkewed":       true,
	"ExpiredToken":               true,
	"BadDigest":                  true, // the body was damaged on the way
	"IncompleteBody":             true,
}

// IsTransient reports whether err, returned by a Bucket, is worth retrying later: S3 5xx and
// throttling (SlowDown), request timeouts, network failures, the SDK giving up after its own
// retries, a context deadline, and local I/O errors. It reports false for answers that another
// attempt would repeat: ErrNotFound, ErrPreconditionFailed, ErrInvalidKey, access denied and other
// 4xx, a canceled context (the caller stopped on purpose), and errors it does not recognize.
//
// The pipeline's step handlers turn transient errors into a retried error type and the rest into
// data errors, so the unknown case must stay false: a retry storm on a bad file would only delay
// its report.
func IsTransient(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, ErrNotFound),
		errors.Is(err, ErrPreconditionFailed),
		errors.Is(err, ErrInvalidKey):
		return false
	case errors.Is(err, context.DeadlineExceeded):
		// Checked before Canceled and before the SDK's tables, which call any canceled request
		// final: a deadline means time ran out (often during the SDK's own backoff), not a decision.
		return true
	case errors.Is(err, context.Canceled):
		return false
	}

	var quota ratelimit.QuotaExceededError
	if errors.As(err, &quota) {
		return true // the client's retry budget ran dry because S3 kept failing
	}
	if v := retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err); v != aws.UnknownTernary {
		return v == aws.TrueTernary
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		code := status.HTTPStatusCode()
		if code >= 500 || code == http.StatusTooManyRequests {
			return true
		}
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return transientCodes[apiErr.ErrorCode()] || apiErr.ErrorFault() == smithy.FaultServer
	}
	var deser *smithy.DeserializationError
	if errors.As(err, &deser) {
		return true // a garbled or truncated response, not a verdict on the request
	}

	var se *streamError
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	var sysErr *os.SyscallError
	return errors.As(err, &se) || errors.As(err, &pathErr) || errors.As(err, &linkErr) || errors.As(err, &sysErr)
}
