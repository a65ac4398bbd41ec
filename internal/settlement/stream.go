package settlement

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// RejectsBufferBytes is how much of its rejects a chunk holds while the chunks before it are validated.
// Past it the chunk waits for its turn and streams the rest straight to the rejects file, so a file whose
// rows are all rejected costs no more memory than a valid one; it then validates less in parallel.
const RejectsBufferBytes = 1 << 20

// ValidateReport reads a whole report, writes every rejected row to rejects (JSON Lines, in file order)
// and returns the validation report. Rows are decoded and checked on all cores (ReadParallel); each
// chunk's partial validator is merged in file order, so the report is the same as a sequential pass.
// A file that is not a readable report, or has no data rows, is an *InvalidFileError; other errors are
// I/O errors.
func ValidateReport(r io.Reader, opts Options, policy Policy, rejects io.Writer) (*Report, error) {
	return ValidateChunked(r, ParallelOptions{Options: opts}, policy, rejects)
}

// ValidateChunked is ValidateReport with the parallel reader's options (workers, block size).
func ValidateChunked(r io.Reader, opts ParallelOptions, policy Policy, rejects io.Writer) (*Report, error) {
	type partial struct {
		v       *Validator
		rejects []byte
	}
	var merged *Validator
	layout, counts, err := ReadParallel(r, opts,
		func(cr *ChunkRows) (partial, error) {
			v := NewValidator(cr.Layout().Provider, policy)
			buf := &orderedRejects{cr: cr, w: rejects}
			rw := NewRejectWriter(buf)
			for row := cr.Next(); row != nil; row = cr.Next() {
				if row.Valid() {
					v.Add(row)
					continue
				}
				v.Reject(row)
				if err := rw.Write(row); err != nil {
					return partial{}, err
				}
			}
			if err := rw.Flush(); err != nil {
				return partial{}, err
			}
			return partial{v, buf.buf.Bytes()}, nil
		},
		func(p partial) error {
			if merged == nil {
				merged = p.v
			} else {
				merged.Merge(p.v)
			}
			if len(p.rejects) > 0 {
				if _, err := rejects.Write(p.rejects); err != nil {
					return fmt.Errorf("write rejects: %w", err)
				}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if counts.DataRows == 0 {
		return nil, &InvalidFileError{Reason: fmt.Sprintf("the report has a header but no data rows (%d lines)", counts.Lines)}
	}
	if merged == nil {
		merged = NewValidator(layout.Provider, policy)
	}
	return merged.Report(counts), nil
}

// orderedRejects holds a chunk's rejects until they pass RejectsBufferBytes, then waits for the chunk's
// turn and writes them, and all that follow, to the rejects file directly.
type orderedRejects struct {
	cr     *ChunkRows
	w      io.Writer
	buf    bytes.Buffer
	direct bool
}

var errStopped = errors.New("validation stopped by an earlier chunk's error")

func (o *orderedRejects) Write(p []byte) (int, error) {
	if !o.direct {
		if o.buf.Len()+len(p) < RejectsBufferBytes {
			return o.buf.Write(p)
		}
		if !o.cr.WaitTurn() {
			return 0, errStopped
		}
		o.direct = true
		if o.buf.Len() > 0 {
			if _, err := o.w.Write(o.buf.Bytes()); err != nil {
				return 0, fmt.Errorf("write rejects: %w", err)
			}
		}
		o.buf = bytes.Buffer{}
	}
	if _, err := o.w.Write(p); err != nil {
		return 0, fmt.Errorf("write rejects: %w", err)
	}
	return len(p), nil
}
