package settlement

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// ChunkRows is one chunk of a report's data rows, decoded on a worker by ReadParallel. Rows come in file
// order within the chunk; Next reuses one Row.
type ChunkRows struct {
	Seq    int // 0, 1, 2… in file order
	layout *Layout
	zones  map[string]int
	c      *chunk
	i      int
	row    Row
	fields [][]byte
	counts Counts // data rows, valid and rejected of this chunk
}

// Layout returns the report's layout.
func (cr *ChunkRows) Layout() *Layout { return cr.layout }

// Next decodes the chunk's next row, or returns nil after the last.
func (cr *ChunkRows) Next() *Row {
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
		r.decode(cr.layout, splitComma(cr.fields[:0], r.Raw), cr.zones)
	default:
		f := cr.fields[:0]
		prev := m.fieldsStart
		for _, end := range c.ends[m.endsStart:m.endsEnd] {
			f = append(f, c.buf[prev:end:end])
			prev = end
		}
		cr.fields = f
		r.decode(cr.layout, f, cr.zones)
	}
	cr.counts.DataRows++
	if r.Valid() {
		cr.counts.Valid++
	} else {
		cr.counts.Rejected++
	}
	return r
}

// splitComma appends the fields of a line without quotes to f.
func splitComma(f [][]byte, line []byte) [][]byte {
	for {
		i := bytes.IndexByte(line, ',')
		if i < 0 {
			return append(f, line)
		}
		f = append(f, line[:i:i])
		line = line[i+1:]
	}
}

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
	fieldsStart      int // quoted records: buf offset of the first field
	endsStart        int // quoted records: ends[endsStart:endsEnd] are the field ends in buf
	endsEnd          int
	err              error
}

func (c *chunk) add(rec *csvRecord) {
	m := recMeta{line: rec.Line, rawStart: len(c.buf), plain: rec.Plain, err: rec.Err}
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
	Workers   int // decoding goroutines; GOMAXPROCS when 0
	ChunkRows int // rows per chunk; 16384 when 0
}

// ReadParallel reads a report like Reader, with the decoding spread over several goroutines: this
// goroutine finds the records (quotes, line breaks, line numbers) and copies them into chunks, workers
// decode each chunk's rows and run work on them, and deliver receives the results in file order, on
// the goroutine that called ReadParallel. Every data row is in exactly one chunk. The returned counts
// cover the whole file. A header that is not a settlement report is an *InvalidFileError.
func ReadParallel[T any](r io.Reader, opts ParallelOptions, work func(*ChunkRows) (T, error), deliver func(T) error) (*Layout, Counts, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.ChunkRows <= 0 {
		opts.ChunkRows = 16384
	}
	rd, err := NewReader(r, opts.Options)
	if err != nil {
		return nil, Counts{}, err
	}
	sc := rd.sc
	sc.lazySplit = true

	type result struct {
		seq    int
		v      T
		counts Counts
		err    error
	}
	jobs := make(chan *ChunkRows)
	results := make(chan result, opts.Workers)
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(func() {
			for cr := range jobs {
				v, err := work(cr)
				if err == nil && cr.Next() != nil {
					err = fmt.Errorf("chunk %d: work returned before reading every row", cr.Seq)
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
	handle := func(res result) {
		pending[res.seq] = res
		for {
			p, ok := pending[nextSeq]
			if !ok {
				return
			}
			delete(pending, nextSeq)
			nextSeq++
			counts.DataRows += p.counts.DataRows
			counts.Valid += p.counts.Valid
			counts.Rejected += p.counts.Rejected
			if firstErr == nil && p.err != nil {
				firstErr = p.err
			}
			if firstErr == nil {
				firstErr = deliver(p.v)
			}
		}
	}
	send := func(cr *ChunkRows) {
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
	c := &chunk{}
	for firstErr == nil {
		rec, err := sc.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		c.add(rec)
		if len(c.recs) == opts.ChunkRows {
			send(&ChunkRows{Seq: sent, layout: rd.layout, zones: rd.zones, c: c})
			c = &chunk{buf: make([]byte, 0, cap(c.buf)), recs: make([]recMeta, 0, opts.ChunkRows)}
		}
	}
	if len(c.recs) > 0 && firstErr == nil && readErr == nil {
		send(&ChunkRows{Seq: sent, layout: rd.layout, zones: rd.zones, c: c})
	}
	close(jobs)
	for res := range results {
		handle(res)
	}
	counts.Lines, counts.Blank = sc.line, sc.blank
	if readErr != nil {
		return rd.layout, counts, readErr
	}
	return rd.layout, counts, firstErr
}
