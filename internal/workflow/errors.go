package workflow

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/store"
)

// The error types below are the contract with the state machine: aws-lambda-go reports the Go type name
// of a returned error as the Step Functions error name, and statemachine/settlement.asl.json routes on
// those names (a test checks that every name there exists here). Handlers return them UNWRAPPED.
//
// Data errors (InvalidFileError, ValidationError, ConflictError) are caught by the definition and sent to
// the failed-files DLQ and the alert topic: a human must act, retrying cannot help. TransientError is
// retried with backoff; when retries run out the execution fails at that step, so a redrive reruns it.

// InvalidFileError means the object cannot be processed as a settlement report at all (missing, empty, too
// large, binary, not an Adyen settlement details report, header only, changed while processing).
type InvalidFileError struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

func (e *InvalidFileError) Error() string { return e.File + ": " + e.Reason }

// ValidationError means the report was read but breaks row or file rules beyond the policy. The rejects
// file and the validation report say exactly which lines and why.
type ValidationError struct {
	File        string   `json:"file"`
	Rows        int64    `json:"rows"`
	Rejected    int64    `json:"rejected"`
	MaxRejected int64    `json:"max_rejected"`
	Problems    []string `json:"problems"`
	RejectsKey  string   `json:"rejects_key,omitempty"`
	ReportKey   string   `json:"report_key"`
	// Bucket is the processed bucket the two keys are in: the message names them by their s3://
	// addresses, which an operator can copy (and the local commands turn into paths).
	Bucket string `json:"bucket,omitempty"`
}

func (e *ValidationError) Error() string {
	where := func(key string) string {
		if e.Bucket == "" {
			return key
		}
		return "s3://" + e.Bucket + "/" + key
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: rejected: %s", e.File, strings.Join(e.Problems, "; "))
	if e.RejectsKey != "" {
		fmt.Fprintf(&b, "; rejected rows with line numbers and reasons: %s", where(e.RejectsKey))
	}
	fmt.Fprintf(&b, "; validation report: %s", where(e.ReportKey))
	return b.String()
}

// ConflictError means a different file was already committed for the same batch (provider, merchant account,
// batch number) — typically a regenerated report — or is being committed at this moment. The committed
// output is kept until an operator reprocesses the new file with replace.
type ConflictError struct {
	File          string `json:"file"`
	Batch         string `json:"batch"`
	CommittedFile string `json:"committed_file"`
	CommittedETag string `json:"committed_etag"`
	ETag          string `json:"etag"`
	// Committing is set when the other file had claimed the batch but not yet committed it.
	Committing bool `json:"committing,omitempty"`
	// Replacing is set for a replace that found another version committed than the one it was started to
	// replace (ReplacesETag, "" when its check found none): it never undoes a newer commit, and an
	// operator who still wants this file runs the replace again.
	Replacing    bool   `json:"replacing,omitempty"`
	ReplacesETag string `json:"replaces_etag,omitempty"`
}

func (e *ConflictError) Error() string {
	if e.Replacing {
		meant := "no committed version"
		if e.ReplacesETag != "" {
			meant = "etag " + e.ReplacesETag
		}
		return fmt.Sprintf("%s (etag %s): this replace of batch %s was started against %s, but %s (etag %s) was committed since; "+
			"it was not replaced: reprocess the file with replace again to replace that version", e.File, e.ETag, e.Batch, meant, e.CommittedFile, e.CommittedETag)
	}
	what := "was already committed"
	if e.Committing {
		what = "is being committed"
	}
	return fmt.Sprintf("%s (etag %s): batch %s %s from %s (etag %s) with different content",
		e.File, e.ETag, e.Batch, what, e.CommittedFile, e.CommittedETag)
}

// TransientError is an infrastructure failure (storage unavailable, throttled, timed out) worth retrying.
type TransientError struct {
	Op  string `json:"op"`
	Err string `json:"err"`
}

func (e *TransientError) Error() string { return e.Op + ": " + e.Err }

// StorageError means storage refused the request for good (access denied, no such bucket). Not retried, not
// caught: the execution fails at the step, and once the cause is fixed a redrive reruns it.
type StorageError struct {
	Op  string `json:"op"`
	Err string `json:"err"`
}

func (e *StorageError) Error() string { return e.Op + ": " + e.Err }

// The error types' names, as Step Functions sees them (the Go type names; a test holds each to its type).
// Code that tells the errors apart by name uses these.
const (
	ErrNameInvalidFile = "InvalidFileError"
	ErrNameValidation  = "ValidationError"
	ErrNameConflict    = "ConflictError"
	ErrNameTransient   = "TransientError"
	ErrNameStorage     = "StorageError"
)

// ErrorNames are the error types the handlers return, by the name Step Functions sees.
var ErrorNames = append(slices.Clone(DataErrors), ErrNameTransient, ErrNameStorage)

// DataErrors are the errors the definition catches: the file is rejected (failed-files DLQ, one alert,
// the Fail state). A redrive re-enters the Fail state without running a step, and a new execution of the
// same bytes is rejected again: nothing but an operator's reprocess (with a changed policy, or replace)
// runs them again.
var DataErrors = []string{ErrNameInvalidFile, ErrNameValidation, ErrNameConflict}

// IsDataError reports whether an execution's error name is one of DataErrors.
func IsDataError(name string) bool { return slices.Contains(DataErrors, name) }

// storageError turns a storage failure into the error a handler returns: a missing or changed source
// object is a data problem of that file, anything else is transient.
func storageError(op, file string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &InvalidFileError{File: file, Reason: "the object does not exist (deleted before it was processed?)"}
	case errors.Is(err, store.ErrPreconditionFailed):
		return &InvalidFileError{File: file, Reason: "the object was overwritten while it was processed; the new version is processed by its own execution"}
	case errors.Is(err, store.ErrInvalidKey):
		return &InvalidFileError{File: file, Reason: err.Error()}
	default:
		return infraError(op, err)
	}
}

// readError is the handler's error for a failure reading the file as a report: the report's own
// problem (settlement.InvalidFileError) is this file's InvalidFileError; anything else is the storage's.
func readError(op, file string, err error) error {
	var ife *settlement.InvalidFileError
	if errors.As(err, &ife) {
		return &InvalidFileError{File: file, Reason: ife.Reason}
	}
	return infraError(op+" "+file, err)
}

// infraError classifies a failure of the pipeline's own storage: retried when transient, else final.
func infraError(op string, err error) error {
	if store.IsTransient(err) {
		return &TransientError{Op: op, Err: err.Error()}
	}
	return &StorageError{Op: op, Err: err.Error()}
}
