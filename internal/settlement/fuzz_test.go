package settlement_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/paysettle/settle/internal/settlement"
)

// FuzzReader: whatever the bytes, the reader never panics, and every physical line is accounted for as
// the header, a blank line, or part of exactly one data row, valid or rejected, in increasing order.
// The seed corpus is every fixture plus testdata/fuzz/FuzzReader; `go test` runs them all.
func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil && len(b) < 1<<20 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := settlement.NewReader(bytes.NewReader(data), settlement.Options{MaxRecordBytes: 512})
		if err != nil {
			var ife *settlement.InvalidFileError
			if !errors.As(err, &ife) {
				t.Fatalf("NewReader: %v is not an InvalidFileError", err)
			}
			return
		}
		var last int64
		var valid, rejected int64
		for {
			row, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if row.Line <= last {
				t.Fatalf("row line %d after %d", row.Line, last)
			}
			last = row.Line
			if row.Valid() {
				valid++
			} else {
				rejected++
				if len(row.Reasons[0]) == 0 {
					t.Fatal("rejected row without a reason")
				}
			}
		}
		c := rd.Counts()
		if c.Valid != valid || c.Rejected != rejected || c.DataRows != valid+rejected {
			t.Fatalf("counts %+v, saw %d valid and %d rejected", c, valid, rejected)
		}
		lines := int64(bytes.Count(data, []byte("\n")))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		if c.Lines != lines {
			t.Fatalf("counted %d lines, the input has %d", c.Lines, lines)
		}
		if last > c.Lines {
			t.Fatalf("a row starts on line %d of %d", last, c.Lines)
		}
		want, wantCounts, _ := sequential(t, data, settlement.Options{MaxRecordBytes: 512})
		got, gotCounts, err := parallel(t, data, settlement.Options{MaxRecordBytes: 512}, 2)
		if err != nil || gotCounts != wantCounts || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("parallel reader differs: %v %+v %d rows, sequential %+v %d rows", err, gotCounts, len(got), wantCounts, len(want))
		}
	})
}
