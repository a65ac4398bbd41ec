package settlement

import (
	"errors"
	"fmt"
	"io"
)

// Options tune the reader.
type Options struct {
	// MaxRecordBytes bounds one CSV record (DefaultMaxRecordBytes when 0).
	MaxRecordBytes int
	// Zones adds or overrides time-zone abbreviations (see ZoneOffsets).
	Zones map[string]int
}

// InvalidFileError says the file as a whole cannot be read as a settlement report: not a CSV report,
// missing columns, no data rows. It is the cause the workflow reports as an InvalidFileError.
type InvalidFileError struct {
	Reason string
}

func (e *InvalidFileError) Error() string { return e.Reason }

// Counts account for every physical line of a file.
type Counts struct {
	Lines    int64 `json:"lines"`     // physical lines read
	Header   int64 `json:"header"`    // 1 once the header is read
	Blank    int64 `json:"blank"`     // blank lines skipped
	DataRows int64 `json:"data_rows"` // records after the header: each is valid or rejected
	Valid    int64 `json:"valid"`
	Rejected int64 `json:"rejected"`
}

// Reader reads a settlement details report row by row, in constant memory. Each data record becomes a
// Row; a malformed one is still a Row, with Reasons, so that every line is accounted for.
type Reader struct {
	sc     *scanner
	layout *Layout
	zones  map[string]int
	row    Row
	counts Counts
}

// NewReader reads the header of a report. A header that is not a settlement details report, or an
// empty file, is an *InvalidFileError.
func NewReader(r io.Reader, opts Options) (*Reader, error) {
	sc := newScanner(r, opts.MaxRecordBytes)
	zones := ZoneOffsets
	if len(opts.Zones) > 0 {
		zones = make(map[string]int, len(ZoneOffsets)+len(opts.Zones))
		for k, v := range ZoneOffsets {
			zones[k] = v
		}
		for k, v := range opts.Zones {
			zones[k] = v
		}
	}
	rd := &Reader{sc: sc, zones: zones}
	rec, err := sc.next()
	if errors.Is(err, io.EOF) {
		return nil, &InvalidFileError{Reason: "the file is empty: no header line"}
	}
	if err != nil {
		return nil, err
	}
	if rec.Err != nil {
		return nil, &InvalidFileError{Reason: fmt.Sprintf("line %d: the header cannot be read: %v", rec.Line, rec.Err)}
	}
	if rec.NFields > MaxColumns {
		return nil, &InvalidFileError{Reason: fmt.Sprintf("line %d: the header has %d columns, more than the %d a report may have", rec.Line, rec.NFields, MaxColumns)}
	}
	l, err := DetectLayout(rec.Fields)
	if err != nil {
		return nil, &InvalidFileError{Reason: fmt.Sprintf("line %d: %v", rec.Line, err)}
	}
	rd.layout = l
	sc.maxFields = len(l.Header) // a wider record is rejected: its extra fields are only counted
	rd.counts.Header = 1
	return rd, nil
}

// Layout returns the header's layout.
func (rd *Reader) Layout() *Layout { return rd.layout }

// Next returns the next data row, valid or not, or io.EOF after the last. The row is reused by the next
// call. Other errors are I/O errors.
func (rd *Reader) Next() (*Row, error) {
	rec, err := rd.sc.next()
	rd.counts.Lines, rd.counts.Blank = rd.sc.line, rd.sc.blank
	if err != nil {
		return nil, err
	}
	r := &rd.row
	r.Line, r.Raw = rec.Line, rec.Raw
	rd.counts.DataRows++
	if rec.Err != nil {
		r.Reasons = append(r.reasonsScratch[:0], rec.Err.Error())
		r.reasonsScratch = r.Reasons
	} else {
		r.decode(rd.layout, rec.Fields, rec.NFields, rd.zones, false)
	}
	if r.Valid() {
		rd.counts.Valid++
	} else {
		rd.counts.Rejected++
	}
	return r, nil
}

// Counts returns the counts so far; after io.EOF they cover the whole file.
func (rd *Reader) Counts() Counts { return rd.counts }
