package settlement

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"
)

// Reject is a rejected line as written to the rejects file: JSON Lines, never CSV, so that no spreadsheet
// evaluates a formula hidden in a reference.
type Reject struct {
	Line     int64    `json:"line"`
	Raw      string   `json:"raw,omitempty"`
	RawB64   string   `json:"raw_base64,omitempty"` // the raw bytes when they are not valid UTF-8
	RawBytes int      `json:"raw_bytes,omitempty"`  // in the report's sample: the length of the raw text when only its start is shown
	Reasons  []string `json:"reasons"`
}

// NewReject copies what the rejects file needs from a row.
func NewReject(r *Row) Reject {
	rj := Reject{Line: r.Line, Reasons: append([]string(nil), r.Reasons...)}
	if utf8.Valid(r.Raw) {
		rj.Raw = string(r.Raw)
	} else {
		rj.RawB64 = base64.StdEncoding.EncodeToString(r.Raw)
	}
	return rj
}

// RejectWriter streams rejected rows as JSON Lines.
type RejectWriter struct {
	w   *bufio.Writer
	err error
}

// NewRejectWriter writes rejects to w.
func NewRejectWriter(w io.Writer) *RejectWriter {
	return &RejectWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// Write appends one rejected row.
func (rw *RejectWriter) Write(r *Row) error {
	if rw.err != nil {
		return rw.err
	}
	b, err := json.Marshal(NewReject(r))
	if err != nil {
		rw.err = err
		return err
	}
	if _, err := rw.w.Write(b); err != nil {
		rw.err = err
		return err
	}
	if err := rw.w.WriteByte('\n'); err != nil {
		rw.err = err
		return err
	}
	return nil
}

// Flush writes buffered rows.
func (rw *RejectWriter) Flush() error {
	if rw.err != nil {
		return rw.err
	}
	return rw.w.Flush()
}

// RecordIDs makes the deterministic record ids of one batch: a 16-hex-digit digest of (provider,
// merchant account, batch number), a dash, and the source line zero-padded to 9 digits, like
// "3f9a0c1d2e4b5a6c-000000057". Unique per line, stable across reruns, sortable within a batch, and
// one hash per file rather than per row.
type RecordIDs struct {
	prefix []byte
	buf    []byte
}

// NewRecordIDs returns the id maker of one batch.
func NewRecordIDs(provider, merchant string, batch int64) *RecordIDs {
	h := sha256.New()
	h.Write([]byte(provider))
	h.Write([]byte{0})
	h.Write([]byte(merchant))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, batch, 10))
	sum := h.Sum(nil)
	p := make([]byte, 0, 17)
	p = hex.AppendEncode(p, sum[:8])
	return &RecordIDs{prefix: append(p, '-')}
}

// ID returns the id of a line; the slice is valid until the next call.
func (ids *RecordIDs) ID(line int64) []byte {
	ids.buf = ids.AppendID(ids.buf[:0], line)
	return ids.buf
}

// AppendID appends the id of a line to b: the table builder writes ids straight into its column.
func (ids *RecordIDs) AppendID(b []byte, line int64) []byte {
	b = append(b, ids.prefix...)
	var d [20]byte
	s := strconv.AppendInt(d[:0], line, 10)
	for i := len(s); i < 9; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
