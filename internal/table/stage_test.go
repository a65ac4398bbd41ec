package table_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/table"
)

const mib = 1 << 20

// repeated reads head, then body over and over up to n bytes in all, sampling the live heap every
// 4 MiB: a report of any size without holding it.
type repeated struct {
	head, body string
	n, off     int64
	next       int64
	peak, base uint64
}

func (r *repeated) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if r.off >= r.next {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > r.base && ms.HeapAlloc-r.base > r.peak {
			r.peak = ms.HeapAlloc - r.base
		}
		r.next = r.off + 4*mib
	}
	n := 0
	for n < len(p) && r.off < r.n {
		var c int
		if r.off < int64(len(r.head)) {
			c = copy(p[n:], r.head[r.off:])
		} else {
			i := (r.off - int64(len(r.head))) % int64(len(r.body))
			c = copy(p[n:], r.body[i:])
		}
		c = int(min(int64(c), r.n-r.off))
		n += c
		r.off += int64(c)
	}
	return n, nil
}

type discard struct{ rows int64 }

func (d *discard) Write(rec arrow.RecordBatch) error { d.rows += rec.NumRows(); return nil }

// stagePeak runs Stage on r and returns the peak live heap above the heap before it.
func stagePeak(t *testing.T, r *repeated) (settlement.Counts, int64, uint64) {
	t.Helper()
	// HeapAlloc counts garbage not yet collected as well: collect often, so that the peak measures what is
	// held rather than when the collector happened to run (at the default GOGC it varied by 40%).
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.base = ms.HeapAlloc
	var sink discard
	counts, err := table.Stage(r, &sink, settlement.Job{Key: "k", ETag: "e"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return counts, sink.rows, r.peak
}

// TestWideHeaderBoundedMemory: under a header of a thousand columns with the longest names, every row's
// extra JSON repeats 120 KiB of names for 2 KiB of line, 60 times its bytes; the transform's batches are
// bounded by their text, so its heap stays near a report of settlement lines' instead of growing by the
// amplified block.
func TestWideHeaderBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gigabytes of JSON; make test runs it")
	}
	d, err := os.ReadFile("../settlement/testdata/default30.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(d), "\n", 3)
	var names []string
	for i := range settlement.MaxColumns - len(settlement.DefaultHeader) {
		name := fmt.Sprintf("Added %03d ", i)
		names = append(names, name+strings.Repeat("x", settlement.MaxColumnNameBytes-len(name)))
	}
	head := lines[0] + "," + strings.Join(names, ",") + "\n"
	body := lines[1] + strings.Repeat(",x", len(names)) + "\n"
	const size = 24 * mib

	var valid bytes.Buffer
	if _, err := gen.Write(&valid, gen.Config{Rows: 60_000, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	vh, vb, _ := strings.Cut(valid.String(), "\n")
	_, _, base := stagePeak(t, &repeated{head: vh + "\n", body: vb, n: int64(valid.Len())})

	counts, rows, peak := stagePeak(t, &repeated{head: head, body: body, n: int64(len(head)) + size/int64(len(body))*int64(len(body))})
	t.Logf("peak live heap: %d KiB for settlement lines, %d KiB under the wide header (%d rows)", base>>10, peak>>10, rows)
	if want := size / int64(len(body)); counts.Valid != want || rows != want {
		t.Errorf("%d valid rows, %d written; want %d", counts.Valid, rows, want)
	}
	// Each worker fills a batch of up to 4 blocks of text (in slices grown by doubling) and may hold one
	// more while it waits for its turn; one more is queued for the sink and one is in it.
	if limit := base + 8*4*uint64(settlement.DefaultBlockBytes); peak > limit {
		t.Errorf("peak live heap %d KiB, over %d KiB (settlement lines' %d KiB and eight batches of bounded text)", peak>>10, limit>>10, base>>10)
	}
}
