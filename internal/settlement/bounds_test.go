package settlement_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/settlement"
)

// part is a stretch of a generated report: n bytes of pattern repeated (the last repetition cut short).
type part struct {
	pattern string
	n       int64
}

// stream produces a report part by part as it is read, so a test can feed hundreds of MiB without
// holding them. Every sampleEvery bytes it calls sample, from the reading goroutine: the heap is watched
// at points fixed by the input, not by a clock.
type stream struct {
	parts       []part
	i           int
	off         int64
	tile        []byte // the current pattern repeated to at least 64 KiB
	read        int64
	nextSample  int64
	sampleEvery int64
	sample      func()
}

func (s *stream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && s.i < len(s.parts) {
		pt := s.parts[s.i]
		if s.off == pt.n {
			s.i, s.off, s.tile = s.i+1, 0, nil
			continue
		}
		if s.tile == nil {
			reps := max(1, (64<<10)/len(pt.pattern))
			s.tile = []byte(strings.Repeat(pt.pattern, reps))
		}
		pos := int(s.off % int64(len(pt.pattern)))
		c := copy(p[n:], s.tile[pos:min(int64(len(s.tile)), int64(pos)+pt.n-s.off)])
		n += c
		s.off += int64(c)
	}
	s.read += int64(n)
	if s.sample != nil && s.read >= s.nextSample {
		s.sample()
		s.nextSample = s.read + s.sampleEvery
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// heapWatch records the live heap (after a collection) at each sample, above the heap before the run.
type heapWatch struct {
	base, peak uint64
	samples    int
}

func newHeapWatch() *heapWatch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &heapWatch{base: ms.HeapAlloc}
}

func (h *heapWatch) sample() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.samples++
	if ms.HeapAlloc > h.base && ms.HeapAlloc-h.base > h.peak {
		h.peak = ms.HeapAlloc - h.base
	}
}

const mib = 1 << 20

// skipMemoryTest skips a test that feeds hundreds of MiB under -short, and under the race detector,
// which makes it minutes long (make test runs the memory tests without it: see the Makefile).
func skipMemoryTest(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("feeds hundreds of MiB; make test runs it")
	}
	if raceEnabled {
		t.Skip("memory is measured without the race detector; make test runs this test without it")
	}
}

// normalReport streams a generated, valid report of about size bytes.
func normalReport(t testing.TB, size int64) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		_, err := gen.Write(pw, gen.Config{Rows: int(size / 175), Seed: 3})
		pw.CloseWithError(err)
	}()
	t.Cleanup(func() { pr.Close() })
	return pr
}

// newlines counts the line breaks of a stream's parts.
func newlines(parts []part) int64 {
	var n int64
	for _, p := range parts {
		per := int64(strings.Count(p.pattern, "\n"))
		n += p.n/int64(len(p.pattern))*per + int64(strings.Count(p.pattern[:p.n%int64(len(p.pattern))], "\n"))
	}
	return n
}

// rejectSink counts the JSON lines written to it and keeps only each line's start and end (where the
// line number and the reasons are), so that a test can check rejects of hundreds of MiB.
type rejectSink struct {
	lines      []string
	head, tail []byte
	bytes      int64
}

func (s *rejectSink) Write(p []byte) (int, error) {
	s.bytes += int64(len(p))
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if keep := 64 - len(s.head); keep > 0 {
			s.head = append(s.head, seg[:min(keep, len(seg))]...)
		}
		s.tail = append(s.tail, seg[max(0, len(seg)-256):]...)
		if len(s.tail) > 256 {
			s.tail = append(s.tail[:0], s.tail[len(s.tail)-256:]...)
		}
		if i < 0 {
			break
		}
		s.lines = append(s.lines, string(s.head)+" … "+string(s.tail))
		s.head, s.tail = s.head[:0], s.tail[:0]
		p = p[i+1:]
	}
	return len(p), nil
}

// readWatched reads a report with the sequential reader, checking each rejected row's reasons, and
// returns its counts and the peak live heap seen at every 4 MiB of input.
func readWatched(t *testing.T, r func(*heapWatch) io.Reader, reason string) (settlement.Counts, uint64) {
	t.Helper()
	h := newHeapWatch()
	rd, err := settlement.NewReader(r(h), settlement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !row.Valid() && (len(row.Reasons) != 1 || !strings.Contains(row.Reasons[0], reason)) {
			t.Errorf("line %d: reasons %q, want one containing %q", row.Line, row.Reasons, reason)
		}
	}
	return rd.Counts(), h.peak
}

// validateWatched validates a report with the parallel reader on two workers and returns its report,
// its rejects and the peak live heap seen at every 4 MiB of input.
func validateWatched(t *testing.T, r func(*heapWatch) io.Reader) (*settlement.Report, *rejectSink, uint64) {
	t.Helper()
	h := newHeapWatch()
	var rejects rejectSink
	rep, err := settlement.ValidateChunked(r(h), settlement.ParallelOptions{Workers: 2}, settlement.DefaultPolicy(), &rejects)
	if err != nil {
		t.Fatal(err)
	}
	return rep, &rejects, h.peak
}

// TestHostileLinesBoundedMemory: lines of 100+ MiB (commas, quotes, a mix, a quoted field over many lines)
// are one rejected row each, read in memory that does not grow with them, by the sequential reader and
// by the parallel validation alike: the live heap stays within a few MiB of what a valid report of
// the same size needs. Records at the record limit may each hold a few copies of themselves per worker
// (the record, its fields, its JSON reject), and no more. The lines around them are read as usual, and
// every line is counted.
func TestHostileLinesBoundedMemory(t *testing.T) {
	skipMemoryTest(t)
	header := strings.Join(settlement.DefaultHeader, ",") + "\n"
	d := fixture(t, "default30.csv")
	row := string(d[bytes.IndexByte(d, '\n')+1:])
	row = row[:strings.IndexByte(row, '\n')+1]
	const size = 100 * mib
	around := func(hostile ...part) []part {
		return append(append([]part{{header, int64(len(header))}, {row, int64(len(row))}}, hostile...), part{row, int64(len(row))})
	}
	wide := strings.Repeat(",", mib-1) + "\n" // a record just under the limit with a million fields
	// A few MiB for the over-long lines. Records at the limit add, per worker, a few copies of a record
	// (its bytes and fields in the scanner, its reject as a string and as JSON), and their slower
	// chunks can keep a few more blocks in flight (at most the free-block pool's Workers+2).
	const slack = 4 * mib
	atLimit := slack + 2*8*int64(settlement.DefaultMaxRecordBytes) + (2+2)*int64(settlement.DefaultBlockBytes)
	cases := []struct {
		name     string
		parts    []part
		rejected int64
		reason   string // of every rejected row
		allow    int64  // heap allowed above a valid report's
	}{
		{"commas", around(part{",", size}, part{"\n", 1}), 1, "record longer than 1048576 bytes; ", slack},
		{"quotes", around(part{`"`, size}, part{"\n", 1}), 1, "record longer than 1048576 bytes; ", slack},
		{"mix over lines", around(part{`,"a""b` + "\n" + `c",d`, size}, part{"\n", 1}), 1, "lines (a quoted field holds line breaks)", slack},
		{"quoted field", around(part{`"`, 1}, part{"lorem, ipsum\n", size}, part{"\"\n", 2}), 1, "lines (a quoted field holds line breaks)", slack},
		{"wide records", around(part{wide, size}), size / mib, "has 1048576 fields, the header has 30", atLimit},
		{"wide records after a long line", around(part{"x", 2 * mib}, part{"\n", 1}, part{wide, size}), 1 + size/mib, "", atLimit},
	}

	// The working set of a valid report of the same size, streamed as it is generated.
	valid := func(h *heapWatch) io.Reader {
		return &watched{r: normalReport(t, 32*mib), every: mib, sample: h.sample}
	}
	_, seqBase := readWatched(t, valid, "")
	_, _, parBase := validateWatched(t, valid)
	t.Logf("valid report: peak live heap sequential %d KiB, parallel %d KiB", seqBase>>10, parBase>>10)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines := newlines(tc.parts)
			want := settlement.Counts{Lines: lines, Header: 1, DataRows: 2 + tc.rejected, Valid: 2, Rejected: tc.rejected}
			hostile := func(h *heapWatch) io.Reader { return &stream{parts: tc.parts, sampleEvery: 4 * mib, sample: h.sample} }

			counts, seqPeak := readWatched(t, hostile, tc.reason)
			if counts != want {
				t.Errorf("sequential counts %+v, want %+v", counts, want)
			}
			rep, rejects, parPeak := validateWatched(t, hostile)
			if rep.Counts != want || int64(len(rejects.lines)) != want.Rejected {
				t.Errorf("parallel counts %+v and %d rejects, want %+v", rep.Counts, len(rejects.lines), want)
			}
			for _, l := range rejects.lines {
				if !strings.Contains(l, tc.reason) {
					t.Errorf("reject %s, want the reason %q", l, tc.reason)
				}
			}
			t.Logf("peak live heap: sequential %d KiB, parallel %d KiB; rejects %d KiB", seqPeak>>10, parPeak>>10, rejects.bytes>>10)
			if seqPeak > seqBase+uint64(tc.allow) || parPeak > parBase+uint64(tc.allow) {
				t.Errorf("peak live heap: sequential %d KiB, parallel %d KiB; a valid report needs %d and %d KiB, and at most %d KiB more are allowed",
					seqPeak>>10, parPeak>>10, seqBase>>10, parBase>>10, tc.allow>>10)
			}
		})
	}
}

// watched samples the heap every so many bytes read from r.
type watched struct {
	r          io.Reader
	every, n   int64
	nextSample int64
	sample     func()
}

func (w *watched) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.n += int64(n)
	if w.n >= w.nextSample {
		w.sample()
		w.nextSample = w.n + w.every
	}
	return n, err
}
