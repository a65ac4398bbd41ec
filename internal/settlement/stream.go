package settlement

import (
	"errors"
	"fmt"
	"io"
)

// ValidateReport reads a whole report, writes every rejected row to rejects (JSON Lines) and returns the
// validation report. A file that is not a readable report, or has no data rows, is an *InvalidFileError;
// other errors are I/O errors.
func ValidateReport(r io.Reader, opts Options, policy Policy, rejects io.Writer) (*Report, error) {
	rd, err := NewReader(r, opts)
	if err != nil {
		return nil, err
	}
	v := NewValidator(rd.Layout().Provider, policy)
	rw := NewRejectWriter(rejects)
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if row.Valid() {
			v.Add(row)
			continue
		}
		v.Reject(row)
		if err := rw.Write(row); err != nil {
			return nil, fmt.Errorf("write rejects: %w", err)
		}
	}
	if err := rw.Flush(); err != nil {
		return nil, fmt.Errorf("write rejects: %w", err)
	}
	counts := rd.Counts()
	if counts.DataRows == 0 {
		return nil, &InvalidFileError{Reason: fmt.Sprintf("the report has a header but no data rows (%d lines)", counts.Lines)}
	}
	return v.Report(counts), nil
}
