package settlement

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"slices"
	"sync"
)

// ChunkRows is one chunk of a report's data rows, decoded on a worker by ReadParallel. Rows come in file
// order within the chunk; Next reuses one Row, and a row's bytes are valid until work returns (the
// block's buffer is then reused): copy what the result keeps.
type ChunkRows struct {
	Seq    int // 0, 1, 2… in file order
	layout *Layout
	zones  map[string]int
	// A chunk is either a block of whole records that the worker scans itself (sc, base, last), or
	// records the sequential splitter found and copied (c).
	sc     *scanner
	buf    []byte // the block's buffer, reused once the chunk is done
	base   int64  // physical lines before the block
	last   bool   // the block ends the file
	cutErr error
	c      *chunk
	i      int
	row    Row
	fields [][]byte
	counts Counts // lines and blank lines of a block; data rows, valid and rejected of any chunk
	turns  *turns
}

// turns tells a chunk when every chunk before it has been delivered.
type turns struct {
	mu   sync.Mutex
	cond sync.Cond
	next int  // chunks before next are delivered
	stop bool // reading stopped: nobody's turn will come
}

func (t *turns) advance(next int, stop bool) {
	t.mu.Lock()
	t.next, t.stop = next, t.stop || stop
	t.mu.Unlock()
	t.cond.Broadcast()
}

// WaitTurn blocks until every earlier chunk has been delivered, so that work may write its output to a
// shared, ordered sink itself, as it goes, instead of holding it for deliver: a chunk whose output
// outgrows a buffer streams the rest in file order. It returns false when reading has stopped (an
// earlier chunk failed); work should then return an error.
func (cr *ChunkRows) WaitTurn() bool {
	t := cr.turns
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.next < cr.Seq && !t.stop {
		t.cond.Wait()
	}
	return !t.stop
}

// Layout returns the report's layout.
func (cr *ChunkRows) Layout() *Layout { return cr.layout }

// Next decodes the chunk's next row, or returns nil after the last.
func (cr *ChunkRows) Next() *Row {
	if cr.sc != nil {
		return cr.nextScanned()
	}
	c := cr.c
	if cr.i >= len(c.recs) {
		return nil
	}
	m := c.recs[cr.i]
	cr.i++
	r := &cr.row
	r.Line, r.Raw = m.line, c.buf[m.rawStart:m.rawEnd]
	switch {
	case m.err != nil:
		r.Reasons = append(r.reasonsScratch[:0], m.err.Error())
		r.reasonsScratch = r.Reasons
	case m.plain:
		var n int
		var ascii bool
		cr.fields, n, ascii = splitComma(cr.fields[:0], r.Raw, len(cr.layout.Header))
		r.decode(cr.layout, cr.fields, n, cr.zones, ascii)
	default:
		f := cr.fields[:0]
		prev := m.fieldsStart
		for _, end := range c.ends[m.endsStart:m.endsEnd] {
			f = append(f, c.buf[prev:end:end])
			prev = end
		}
		cr.fields = f
		r.decode(cr.layout, f, m.nfields, cr.zones, false)
	}
	return cr.count(r)
}

// nextScanned reads the next record of a block.
func (cr *ChunkRows) nextScanned() *Row {
	rec, err := cr.sc.next()
	cr.counts.Lines, cr.counts.Blank = cr.sc.line-cr.base, cr.sc.blank
	if err != nil { // io.EOF: the block is in memory
		return nil
	}
	r := &cr.row
	r.Line, r.Raw = rec.Line, rec.Raw
	switch {
	case rec.Err != nil:
		if rec.Err == errUnterminated && !cr.last && cr.cutErr == nil {
			cr.cutErr = fmt.Errorf("chunk %d: the block was cut inside a quoted field at line %d", cr.Seq, rec.Line)
		}
		r.Reasons = append(r.reasonsScratch[:0], rec.Err.Error())
		r.reasonsScratch = r.Reasons
	case rec.Plain:
		var n int
		var ascii bool
		cr.fields, n, ascii = splitComma(cr.fields[:0], rec.Raw, len(cr.layout.Header))
		r.decode(cr.layout, cr.fields, n, cr.zones, ascii)
	default:
		r.decode(cr.layout, rec.Fields, rec.NFields, cr.zones, false)
	}
	return cr.count(r)
}

func (cr *ChunkRows) count(r *Row) *Row {
	cr.counts.DataRows++
	if r.Valid() {
		cr.counts.Valid++
	} else {
		cr.counts.Rejected++
	}
	return r
}

// splitComma appends the fields of a line without quotes to f and returns the line's number of fields.
// It keeps at most limit fields: a record wider than its header is rejected for its width, so the rest
// are only counted, and a line of a million commas costs no memory per comma. It also reports whether
// the line is ASCII (false when it is cut short at the limit): its fields then need no UTF-8 check.
//
// It looks at eight bytes at a time: a settlement line's fields are short, and finding each comma with
// IndexByte cost a call per field, twice the time of the whole split done this way.
func splitComma(f [][]byte, line []byte, limit int) ([][]byte, int, bool) {
	n, start, i := 1, 0, 0
	var high uint64 // the bytes of the line ORed together: ASCII when no top bit is set
	for ; i+8 <= len(line); i += 8 {
		w := binary.LittleEndian.Uint64(line[i:])
		high |= w
		x := w ^ commas                        // a comma's byte is zero in x
		m := ^(((x & low7) + low7) | x | low7) // the top bit of each zero byte of x
		for ; m != 0; m &= m - 1 {
			j := i + bits.TrailingZeros64(m)>>3
			if n >= limit {
				return f, n + 1 + bytes.Count(line[j+1:], comma), false
			}
			f = append(f, line[start:j:j])
			start = j + 1
			n++
		}
	}
	for ; i < len(line); i++ {
		high |= uint64(line[i])
		if line[i] == ',' {
			if n >= limit {
				return f, n + 1 + bytes.Count(line[i+1:], comma), false
			}
			f = append(f, line[start:i:i])
			start = i + 1
			n++
		}
	}
	return append(f, line[start:]), n, high&^low7 == 0
}

var comma = []byte{','}

const (
	commas = 0x2c2c2c2c2c2c2c2c // eight commas
	low7   = 0x7f7f7f7f7f7f7f7f
)

// chunk holds copies of consecutive records: their text, and for quoted records their unquoted fields.
type chunk struct {
	buf  []byte
	recs []recMeta
	ends []int
}

type recMeta struct {
	line             int64
	rawStart, rawEnd int
	plain            bool
	nfields          int // quoted records: the number of fields (the first ones kept, see scanner)
	fieldsStart      int // quoted records: buf offset of the first field
	endsStart        int // quoted records: ends[endsStart:endsEnd] are the field ends in buf
	endsEnd          int
	err              error
}

func (c *chunk) add(rec *csvRecord) {
	m := recMeta{line: rec.Line, rawStart: len(c.buf), plain: rec.Plain, nfields: rec.NFields, err: rec.Err}
	c.buf = append(c.buf, rec.Raw...)
	m.rawEnd = len(c.buf)
	if !rec.Plain && rec.Err == nil {
		m.fieldsStart, m.endsStart = len(c.buf), len(c.ends)
		for _, f := range rec.Fields {
			c.buf = append(c.buf, f...)
			c.ends = append(c.ends, len(c.buf))
		}
		m.endsEnd = len(c.ends)
	}
	c.recs = append(c.recs, m)
}

// ParallelOptions tune ReadParallel.
type ParallelOptions struct {
	Options
	Workers    int // decoding goroutines; GOMAXPROCS when 0
	BlockBytes int // bytes per block of records; DefaultBlockBytes when 0
}

// DefaultBlockBytes is the size of the blocks ReadParallel hands to its workers: about 24,000
// settlement lines, enough to keep the hand-over cost small and the blocks in flight few.
const DefaultBlockBytes = 4 << 20

// ReadParallel reads a report like Reader, with the work spread over several goroutines. This goroutine
// reads the file in blocks and cuts each at the end of its last whole record, looking only at the lines
// that hold a quote (a line break inside a quoted field does not end a record); workers scan and decode
// each block's rows and run work on them; deliver receives the results in file order, on the goroutine
// that called ReadParallel. Every data row is in exactly one chunk. The returned counts cover the whole
// file. A header that is not a settlement report is an *InvalidFileError.
//
// A record that runs past a block and the record limit (an unterminated quote, a file without line
// breaks) sends the rest of the file through the sequential splitter, which copies records into chunks
// of at most about a block's bytes; memory stays bounded either way. At most 2×Workers+2 chunks are in
// flight (sent and not yet delivered), however slow one of them is.
func ReadParallel[T any](r io.Reader, opts ParallelOptions, work func(*ChunkRows) (T, error), deliver func(T) error) (*Layout, Counts, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.BlockBytes <= 0 {
		opts.BlockBytes = DefaultBlockBytes
	}
	rd, err := NewReader(r, opts.Options)
	if err != nil {
		return nil, Counts{}, err
	}
	sc := rd.sc

	type result struct {
		seq    int
		v      T
		counts Counts
		err    error
	}
	jobs := make(chan *ChunkRows)
	results := make(chan result, opts.Workers)
	window := 2*opts.Workers + 2
	tn := &turns{}
	tn.cond.L = &tn.mu
	free := make(chan []byte, opts.Workers+2) // block buffers to reuse
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(func() {
			for cr := range jobs {
				v, err := work(cr)
				if err == nil && cr.Next() != nil {
					err = fmt.Errorf("chunk %d: work returned before reading every row", cr.Seq)
				}
				if err == nil {
					err = cr.cutErr
				}
				if cr.buf != nil { // work is done with the block's bytes: the reader may refill it
					select {
					case free <- cr.buf[:0]:
					default:
					}
				}
				results <- result{cr.Seq, v, cr.counts, err}
			}
		})
	}
	go func() { wg.Wait(); close(results) }()

	// Send chunks while delivering results in order; pending holds results that came early.
	var (
		counts   = rd.counts
		pending  = map[int]result{}
		nextSeq  int
		sent     int
		firstErr error
		readErr  error
	)
	counts.Lines, counts.Blank = sc.line, sc.blank
	handle := func(res result) {
		pending[res.seq] = res
		for {
			p, ok := pending[nextSeq]
			if !ok {
				return
			}
			delete(pending, nextSeq)
			nextSeq++
			counts.Lines += p.counts.Lines
			counts.Blank += p.counts.Blank
			counts.DataRows += p.counts.DataRows
			counts.Valid += p.counts.Valid
			counts.Rejected += p.counts.Rejected
			if firstErr == nil && p.err != nil {
				firstErr = p.err
			}
			if firstErr == nil {
				firstErr = deliver(p.v)
			}
			tn.advance(nextSeq, firstErr != nil)
		}
	}
	send := func(cr *ChunkRows) {
		cr.Seq, cr.layout, cr.zones, cr.turns = sent, rd.layout, rd.zones, tn
		for sent-nextSeq >= window { // the next chunk's turn comes first: wait for results only
			windowFull()
			handle(<-results)
		}
		for {
			select {
			case jobs <- cr:
				sent++
				return
			case res := <-results:
				handle(res)
			}
		}
	}

	base := sc.line
	var carry []byte
	for firstErr == nil {
		var data []byte
		select {
		case data = <-free:
		default:
		}
		// Exactly BlockBytes more, whatever the reused buffer's capacity: where blocks are cut must depend
		// on the file alone, or the Parquet pages (and bytes) would depend on timing. A carry longer than
		// that is a record that has not ended yet: read as much again, so that a long record is looked at
		// a few times, not once per block.
		more := max(opts.BlockBytes, len(carry))
		// carry may lie in the buffer just taken back: copy moves it to the front first.
		data = append(slices.Grow(data, len(carry)+more)[:0], carry...)
		n, err := io.ReadFull(sc.br, data[len(data):len(carry)+more])
		data = data[:len(data)+n]
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			readErr = err
			break
		}
		cut := len(data)
		if !eof {
			cut = cutPoint(data)
		}
		if cut < 0 {
			if len(data) > sc.maxRecord+opts.BlockBytes {
				// No record ends within reach: the sequential splitter takes the rest.
				seq := newScanner(io.MultiReader(bytes.NewReader(data), sc.br), sc.maxRecord)
				seq.started, seq.line, seq.maxFields = true, base, sc.maxFields
				for len(free) > 0 { // the pool's blocks, grown for this record, are not needed any more
					<-free
				}
				lines, blank, err := splitSequential(seq, max(opts.BlockBytes/256, 1), opts.BlockBytes, &firstErr, send)
				counts.Lines += lines
				counts.Blank += blank
				readErr = err
				break
			}
			carry = data
			continue
		}
		if cut > 0 {
			block := data[:cut]
			bsc := newBlockScanner(block, sc.maxRecord, sc.maxFields, base)
			bsc.lazySplit = true
			send(&ChunkRows{sc: bsc, buf: data, base: base, last: eof})
			base += int64(bytes.Count(block, []byte{'\n'}))
		}
		carry = data[cut:]
		if eof {
			break
		}
	}
	close(jobs)
	for res := range results {
		handle(res)
	}
	if readErr != nil {
		return rd.layout, counts, readErr
	}
	return rd.layout, counts, firstErr
}

// windowFull is called when ReadParallel waits for a result before sending more: a test hook.
var windowFull = func() {}

// splitSequential finds the records of seq one by one and sends them, copied, in chunks of chunkRows
// records or about chunkBytes bytes, whichever comes first. It returns the lines and blank lines it read.
func splitSequential(seq *scanner, chunkRows, chunkBytes int, stop *error, send func(*ChunkRows)) (int64, int64, error) {
	seq.lazySplit = true
	start := seq.line
	c := &chunk{}
	var readErr error
	for *stop == nil {
		rec, err := seq.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		c.add(rec)
		if len(c.recs) == chunkRows || len(c.buf) >= chunkBytes {
			send(&ChunkRows{c: c})
			c = &chunk{buf: make([]byte, 0, cap(c.buf)), recs: make([]recMeta, 0, chunkRows)}
		}
	}
	if len(c.recs) > 0 && *stop == nil && readErr == nil {
		send(&ChunkRows{c: c})
	}
	return seq.line - start, seq.blank, readErr
}

// cutPoint returns the end of the last whole record in data, which starts at a record's start: the offset
// just after the line break that ends it, or -1 when no record ends in data. Only the records with a
// quote are followed field by field (recordEnd); the lines between them are records of their own.
func cutPoint(data []byte) int {
	pos, cut := 0, -1
	for {
		q := bytes.IndexByte(data[pos:], '"')
		if q < 0 {
			if nl := bytes.LastIndexByte(data[pos:], '\n'); nl >= 0 {
				return pos + nl + 1
			}
			return cut
		}
		q += pos
		start := pos + bytes.LastIndexByte(data[pos:q], '\n') + 1 // the quoted record's first line
		if start > 0 {
			cut = start
		}
		end := recordEnd(data, start)
		if end < 0 {
			return cut
		}
		pos, cut = end, end
	}
}

// recordEnd follows the record that starts at data[i] the way the scanner does (a quote opens a quoted
// field only at a field's start; a doubled quote inside one is a quote; a line break inside one belongs
// to the field) and returns the offset just after its final line break, or -1 when it does not end in data.
func recordEnd(data []byte, i int) int {
	state := fieldStart
	for i < len(data) {
		switch state {
		case fieldStart:
			switch data[i] {
			case '"':
				state = quoted
			case '\n':
				return i + 1
			case ',':
			default:
				state = unquoted
				continue
			}
			i++
		case unquoted:
			j := bytes.IndexByte(data[i:], ',')
			field := data[i:]
			if j >= 0 {
				field = data[i : i+j]
			}
			if nl := bytes.IndexByte(field, '\n'); nl >= 0 {
				return i + nl + 1
			}
			if j < 0 {
				return -1
			}
			i += j + 1
			state = fieldStart
		case quoted:
			j := bytes.IndexByte(data[i:], '"')
			if j < 0 {
				return -1
			}
			i += j + 1
			state = quoteSeen
		case quoteSeen:
			switch data[i] {
			case '"':
				state = quoted
			case ',':
				state = fieldStart
			case '\n':
				return i + 1
			default:
				state = unquoted
				continue
			}
			i++
		}
	}
	return -1
}
