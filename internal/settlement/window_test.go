package settlement

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestReadParallelWindow: while the first chunk is slow, the reader sends at most 2×Workers+2 chunks
// and waits, instead of reading on and holding every later result until the first is delivered.
func TestReadParallelWindow(t *testing.T) {
	const workers = 2
	window := 2*workers + 2
	row := "a" + strings.Repeat(",a", len(DefaultHeader)-1) + "\n"
	data := strings.Join(DefaultHeader, ",") + "\n" + strings.Repeat(row, 200)

	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer func(f func()) { windowFull = f }(windowFull)
	var full atomic.Bool
	windowFull = func() { full.Store(true); free() }

	var delivered, worst atomic.Int64
	_, counts, err := ReadParallel(bytes.NewReader([]byte(data)), ParallelOptions{Workers: workers, BlockBytes: len(row) * 2},
		func(cr *ChunkRows) (int, error) {
			if ahead := int64(cr.Seq) - delivered.Load(); ahead >= int64(window) {
				worst.Store(ahead)
				free() // a chunk past the window started: let the first one end
			}
			if cr.Seq == 0 {
				<-release
			}
			for cr.Next() != nil {
			}
			return cr.Seq, nil
		},
		func(int) error { delivered.Add(1); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if counts.DataRows != 200 {
		t.Errorf("data rows = %d, want 200", counts.DataRows)
	}
	if w := worst.Load(); w != 0 || !full.Load() {
		t.Errorf("a chunk started %d ahead of the first undelivered one (window %d, reached: %v)", w, window, full.Load())
	}
}
