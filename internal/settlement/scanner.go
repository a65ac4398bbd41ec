package settlement

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
)

// DefaultMaxRecordBytes bounds one CSV record. A settlement line is a few hundred bytes; a record longer
// than this is a row error (with its first bytes kept for the rejects file), never unbounded memory.
const DefaultMaxRecordBytes = 1 << 20

// rawKeep is how much of an over-long record is kept for the rejects file.
const rawKeep = 4096

// MaxColumns bounds a report's header: Adyen's layouts have 30 to about 50 columns, so a thousand leaves
// room for any added column while a line of commas cannot become a header of a million columns. Data
// records are bounded by their header's width: the fields past it are counted, not kept.
const MaxColumns = 1000

// Record errors: a malformed record is still a record (it has a line number and raw text) so it can be
// rejected and counted; only I/O errors stop the scanner.
var (
	errUnterminated = errors.New("unterminated quoted field: the file ends inside quotes")
	errAfterQuote   = errors.New("text after a closing quote; quotes inside a quoted field must be doubled")
)

// TooLongError is the error of a record longer than the scanner's limit. Lines is how many physical
// lines the record spans (more than one when a quoted field holds line breaks), so that the lines it
// swallowed are visible in the rejects file.
type TooLongError struct {
	Limit int
	Lines int64
}

func (e *TooLongError) Error() string {
	s := "record longer than " + strconv.Itoa(e.Limit) + " bytes"
	if e.Lines > 1 {
		s += " over " + strconv.FormatInt(e.Lines, 10) + " lines (a quoted field holds line breaks)"
	}
	return s + "; only its first " + strconv.Itoa(rawKeep) + " bytes are kept"
}

// csvRecord is one CSV record. Fields and Raw point into the scanner's buffers and are valid until the
// next call to Next.
type csvRecord struct {
	Line    int64    // physical line the record starts on (1-based)
	Fields  [][]byte // nil when Err is set; only the first maxFields when NFields is over that
	NFields int      // the record's number of fields
	Raw     []byte   // the record's text without its final line break (truncated when too long)
	Err     error    // malformed record
	Plain   bool     // no quotes: the fields are Raw cut at its commas (left to the caller with lazySplit)
}

// scanner reads RFC 4180 CSV one record at a time: quoted fields with commas, doubled quotes and line
// breaks; CRLF or LF; a UTF-8 byte-order mark; blank lines skipped and counted. A quote inside an
// unquoted field is kept as text (bare quotes appear in merchant references), so one stray quote cannot
// swallow the lines after it. Lines are counted physically, as an editor shows them.
//
// Memory is bounded whatever the input: a record's bytes by maxRecord (past it the record is only
// scanned for its end) and its fields by maxFields (past it they are only counted).
type scanner struct {
	br        *bufio.Reader
	mem       []byte // the rest of an in-memory block, read in place when br is nil
	maxRecord int
	maxFields int   // fields kept per record: MaxColumns for the header, then the header's width
	line      int64 // physical lines consumed
	blank     int64 // blank lines skipped
	started   bool
	rec       csvRecord
	fields    [][]byte
	buf       []byte // field bytes of a record that needed unquoting
	ends      []int
	raw       []byte
	err       error
	lazySplit bool // leave plain records unsplit (Fields nil, Plain true): a parallel reader splits them
}

func newScanner(r io.Reader, maxRecord int) *scanner {
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecordBytes
	}
	return &scanner{br: bufio.NewReaderSize(r, 256<<10), maxRecord: maxRecord, maxFields: MaxColumns}
}

// newBlockScanner returns a scanner of a block of whole records in memory, which started at line base.
func newBlockScanner(block []byte, maxRecord, maxFields int, base int64) *scanner {
	return &scanner{mem: block, maxRecord: maxRecord, maxFields: maxFields, line: base, started: true}
}

// next returns the next record, or io.EOF after the last one. Any other error is an I/O error.
func (s *scanner) next() (*csvRecord, error) {
	if s.err != nil {
		return nil, s.err
	}
	if !s.started {
		s.started = true
		if b, err := s.br.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
			_, _ = s.br.Discard(3)
		}
	}
	for {
		chunk, full, err := s.read()
		if err != nil {
			s.err = err
			return nil, err
		}
		start := s.line + 1
		if full {
			line := trimEOL(chunk)
			if isBlank(line) {
				s.line++
				s.blank++
				continue
			}
			if len(line) <= s.maxRecord && bytes.IndexByte(line, '"') < 0 {
				s.line++
				if s.lazySplit {
					s.rec = csvRecord{Line: start, Raw: line, Plain: true}
				} else {
					var n int
					s.fields, n, _ = splitComma(s.fields[:0], line, s.maxFields)
					s.rec = csvRecord{Line: start, Fields: s.fields, NFields: n, Raw: line, Plain: true}
				}
				return &s.rec, nil
			}
			if len(line) <= s.maxRecord && s.splitQuoted(line) {
				s.line++
				s.rec = csvRecord{Line: start, Fields: s.fields, NFields: len(s.fields), Raw: line}
				return &s.rec, nil
			}
		}
		return s.slow(chunk, full, start)
	}
}

// splitQuoted splits a whole line with quotes when each of them opens or closes a field, or is doubled
// inside one, as in a merchant reference with a comma: fields are slices of the line, or of s.buf when
// they had doubled quotes. It returns false, leaving the line to slow, for anything else: a quoted field
// running past the line, text after a closing quote, more fields than are kept. It gives the same fields
// as slow, about three times faster (TestSplitQuotedIsSlow).
func (s *scanner) splitQuoted(line []byte) bool {
	f := s.fields[:0]
	s.buf = slices.Grow(s.buf[:0], len(line)) // unquoted fields are shorter than the line: no reallocation
	for pos := 0; ; {
		if len(f) >= s.maxFields {
			return false
		}
		if pos == len(line) || line[pos] != '"' { // an unquoted field, quotes in it are text
			k := bytes.IndexByte(line[pos:], ',')
			if k < 0 {
				s.fields = append(f, line[pos:len(line):len(line)])
				return true
			}
			f = append(f, line[pos:pos+k:pos+k])
			pos += k + 1
			continue
		}
		start, doubled := pos+1, false
		j := start
		for {
			k := bytes.IndexByte(line[j:], '"')
			if k < 0 {
				return false // the field runs past the line
			}
			if q := j + k; q+1 < len(line) && line[q+1] == '"' {
				doubled, j = true, q+2
				continue
			}
			j += k
			break
		}
		if doubled {
			b := len(s.buf)
			for v := line[start:j]; len(v) > 0; {
				k := bytes.IndexByte(v, '"')
				if k < 0 {
					s.buf = append(s.buf, v...)
					break
				}
				s.buf = append(s.buf, v[:k+1]...)
				v = v[k+2:]
			}
			f = append(f, s.buf[b:len(s.buf):len(s.buf)])
		} else {
			f = append(f, line[start:j:j])
		}
		switch pos = j + 1; {
		case pos == len(line):
			s.fields = f
			return true
		case line[pos] != ',':
			return false // text after the closing quote: slow says what is wrong
		}
		pos++
	}
}

// read returns the next chunk of input: a whole line (full, with its line break if any) or, for a line
// longer than the buffer, a part of it. At the end of input it returns io.EOF.
func (s *scanner) read() ([]byte, bool, error) {
	if s.br == nil { // a block in memory: its lines, without copying them through a reader's buffer
		if len(s.mem) == 0 {
			return nil, false, io.EOF
		}
		chunk := s.mem
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk = chunk[:i+1]
		}
		s.mem = s.mem[len(chunk):]
		return chunk, true, nil
	}
	chunk, err := s.br.ReadSlice('\n')
	switch {
	case err == nil:
		return chunk, true, nil
	case errors.Is(err, bufio.ErrBufferFull):
		return chunk, false, nil
	case errors.Is(err, io.EOF):
		if len(chunk) == 0 {
			return nil, false, io.EOF
		}
		return chunk, true, nil
	default:
		return nil, false, err
	}
}

const (
	fieldStart = iota
	unquoted
	quoted
	quoteSeen
)

// slow parses a record that has quotes, spans lines, or is longer than the limit, with a byte-wise state
// machine. It copies what it keeps, since reading the following lines reuses the reader's buffer.
func (s *scanner) slow(chunk []byte, full bool, start int64) (*csvRecord, error) {
	s.buf, s.ends, s.raw = s.buf[:0], s.ends[:0], s.raw[:0]
	var recErr error
	size := 0
	discard := false // over the limit: keep scanning to find the record's end, store nothing more
	nf := 0          // fields ended so far; only the first maxFields ends are kept
	endField := func() {
		if nf++; nf <= s.maxFields && !discard {
			s.ends = append(s.ends, len(s.buf))
		}
	}
	state := fieldStart
	for {
		data := chunk
		if full {
			data = trimEOL(chunk)
		}
		if !discard && size+len(data) > s.maxRecord {
			discard = true
			recErr = &TooLongError{Limit: s.maxRecord}
			s.raw = s.raw[:min(len(s.raw), rawKeep)]
			if keep := rawKeep - len(s.raw); keep > 0 {
				s.raw = append(s.raw, data[:min(keep, len(data))]...)
			}
		} else if !discard {
			s.raw = append(s.raw, data...)
		}
		size += len(data)
		// Runs of plain bytes are found with IndexByte and copied at once; only commas and quotes are
		// looked at one by one.
		for i := 0; i < len(data); {
			switch state {
			case fieldStart:
				switch data[i] {
				case '"':
					state = quoted
					i++
				case ',':
					endField()
					i++
				default:
					state = unquoted
				}
			case unquoted:
				j := bytes.IndexByte(data[i:], ',')
				if j < 0 {
					j = len(data) - i
				} else {
					state = fieldStart
				}
				if !discard {
					s.buf = append(s.buf, data[i:i+j]...)
				}
				if state == fieldStart {
					endField()
					j++
				}
				i += j
			case quoted:
				j := bytes.IndexByte(data[i:], '"')
				if j < 0 {
					j = len(data) - i
				} else {
					state = quoteSeen
				}
				if !discard {
					s.buf = append(s.buf, data[i:i+j]...)
				}
				if state == quoteSeen {
					j++
				}
				i += j
			case quoteSeen:
				switch data[i] {
				case '"':
					state = quoted
					if !discard {
						s.buf = append(s.buf, '"')
					}
					i++
				case ',':
					endField()
					state = fieldStart
					i++
				default:
					if recErr == nil {
						recErr = errAfterQuote
					}
					state = unquoted
				}
			}
		}
		if !full { // the rest of a line longer than the reader's buffer
			var err error
			chunk, full, err = s.read()
			if errors.Is(err, io.EOF) {
				full, chunk = true, nil
			} else if err != nil {
				s.err = err
				return nil, err
			}
			continue
		}
		s.line++
		if state != quoted {
			break
		}
		// A line break inside a quoted field belongs to the field.
		var err error
		chunk, full, err = s.read()
		if errors.Is(err, io.EOF) {
			recErr = errUnterminated
			break
		}
		if err != nil {
			s.err = err
			return nil, err
		}
		if !discard {
			s.buf = append(s.buf, '\n')
			s.raw = append(s.raw, '\n')
		}
		size++
	}
	endField()
	if tl, ok := recErr.(*TooLongError); ok {
		tl.Lines = s.line - start + 1
	}
	s.rec = csvRecord{Line: start, Raw: s.raw, Err: recErr, NFields: nf}
	if recErr == nil {
		f := s.fields[:0]
		prev := 0
		for _, e := range s.ends {
			f = append(f, s.buf[prev:e:e])
			prev = e
		}
		s.fields = f
		s.rec.Fields = f
	}
	return &s.rec, nil
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}
