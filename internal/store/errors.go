package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unicode/utf8"
)

// ErrInvalidKey is returned (wrapped) for a key that cannot name an object: empty, too long, not UTF-8,
// or, for a Dir, one that would escape or alias the folder. Retrying cannot help.
var ErrInvalidKey = errors.New("invalid key")

// ErrUploadClosed is returned by an Upload used after Commit or Abort.
var ErrUploadClosed = errors.New("upload already committed or aborted")

// ErrTransient marks a failure worth retrying later (throttling, a 5xx answer, a network or disk
// failure, a body cut short). Bucket implementations mark their transient failures with Transient, so
// that IsTransient needs to know nothing of their SDKs.
var ErrTransient = errors.New("transient failure")

// Transient marks err as worth retrying: errors.Is(Transient(err), ErrTransient) holds, and err's own
// chain stays reachable with errors.Is and errors.As. Its message is err's.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err}
}

type transientError struct{ err error }

func (e transientError) Error() string   { return e.err.Error() }
func (e transientError) Unwrap() []error { return []error{e.err, ErrTransient} }

// MaxKeyBytes is S3's limit on a key's length; Dir applies it too so that a key that works locally
// also works in the cloud.
const MaxKeyBytes = 1024

// CheckKey applies the rules every bucket shares and returns why key is invalid, or "".
func CheckKey(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyBytes:
		return fmt.Sprintf("longer than %d bytes", MaxKeyBytes)
	case !utf8.ValidString(key):
		return "not valid UTF-8"
	}
	return ""
}

// IsTransient reports whether err, returned by a Bucket, is worth retrying later: what the
// implementation marked with Transient (S3 5xx and throttling, request timeouts, network failures, a
// body cut short), a context deadline, and local I/O errors. It reports false for answers that another
// attempt would repeat: ErrNotFound, ErrPreconditionFailed, ErrInvalidKey, access denied and other 4xx,
// a canceled context (the caller stopped on purpose), and errors it does not recognize.
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
		// Checked before Canceled and before the implementation's own verdict, which may call any
		// canceled request final: a deadline means time ran out, not a decision.
		return true
	case errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, ErrTransient):
		return true
	}
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	var sysErr *os.SyscallError
	return errors.As(err, &pathErr) || errors.As(err, &linkErr) || errors.As(err, &sysErr)
}
