package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/store"
)

// Remedy is what would let a rejected file through: the settings a reprocess would need. Advice says in
// general what to do about each data error; Remedy fits it to one file, so that an operator's tool can
// print the exact command (a reprocess allowing the 13 rows this file rejected, with the balance check
// off for this batch, replacing the committed file).
type Remedy struct {
	// Rejected is the number of rows the file rejected when they were more than allowed (0: not why).
	Rejected int64
	// Unbalanced is set when the batch does not balance with the balance check on.
	Unbalanced bool
	// Replace is set when another file is committed for the batch (a ConflictError).
	Replace bool
	// TooLarge is set when the file is over MAX_FILE_BYTES.
	TooLarge bool
}

// Rejection is what an operator knows of a rejected file, from which ReadRemedy reads its remedy.
type Rejection struct {
	// Error is the data error's name (one of DataErrors).
	Error string
	// File is the execution's file, as its input (or its failed-files message) names it: its ETag finds
	// the validation report, its size is compared with MaxFileBytes.
	File FileRef
	// Check is the check step's result when the caller has it (the failed state's input), which names
	// the validation report's key; nil: the report is found by the file's ETag among all reports.
	Check *CheckResult
	// MaxFileBytes is the limit a reprocess of the file would run under: MAX_FILE_BYTES where it runs
	// (the stack's MaxFileBytes parameter, or the local environment); 0 or less: DefaultMaxFileBytes.
	MaxFileBytes int64
}

// balanceRule is the settlement.FileError rule of a batch that does not balance with the check on.
const balanceRule = "balance"

// ReadRemedy reads what would let a rejected file through from what the rejection left as data, never
// from the wording of its message (which crosses Step Functions only as text):
//
//   - ValidationError: the validation report, which Validate writes to the processed bucket before it
//     rejects the file. Rejected is its count of rejected rows when that is more than its policy allowed;
//     Unbalanced is set when it has a balance file error. The report is the latest validation of the
//     file's content: once a reprocess lets the file through, it no longer names a remedy.
//   - ConflictError: Replace, by the name alone.
//   - InvalidFileError: TooLarge when the file's size is over r.MaxFileBytes, the limit a reprocess runs
//     under: then raising it is what any reprocess needs first.
//
// A report that no longer exists (its retention ran out) gives the zero Remedy; an error is a failure
// to read the processed bucket.
func ReadRemedy(ctx context.Context, processed store.Bucket, r Rejection) (Remedy, error) {
	var rem Remedy
	switch r.Error {
	case ErrNameValidation:
		rep, err := readRejectionReport(ctx, processed, r.Check, r.File.ETag)
		if err != nil || rep == nil {
			return rem, err
		}
		if rep.Counts.Rejected > rep.Policy.MaxRejected {
			rem.Rejected = rep.Counts.Rejected
		}
		for _, e := range rep.FileErrors {
			if e.Rule == balanceRule {
				rem.Unbalanced = true
			}
		}
	case ErrNameConflict:
		rem.Replace = true
	case ErrNameInvalidFile:
		rem.TooLarge = r.File.Size > Config{MaxFileBytes: r.MaxFileBytes}.maxFileBytes()
	}
	return rem, nil
}

// readRejectionReport reads the validation report of the file with ETag etag: at the key check names
// when the caller has the check's result, else the newest report of that ETag under any batch (a
// listing of every report, one request per thousand on S3). Nil when there is none.
func readRejectionReport(ctx context.Context, processed store.Bucket, check *CheckResult, etag string) (*settlement.Report, error) {
	key := ""
	switch {
	case etag == "":
		return nil, nil
	case check != nil:
		key = ReportKey(check, etag)
	default:
		objs, err := processed.List(ctx, ReportPrefix)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", ReportPrefix, err)
		}
		suffix := "/" + escapeKey(etag) + ".json"
		var newest store.Object
		for _, o := range objs {
			if strings.HasSuffix(o.Key, suffix) && (key == "" || o.Modified.After(newest.Modified)) {
				key, newest = o.Key, o
			}
		}
		if key == "" {
			return nil, nil
		}
	}
	data, _, err := processed.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	var rep settlement.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("read %s: not a validation report: %w", key, err)
	}
	return &rep, nil
}
