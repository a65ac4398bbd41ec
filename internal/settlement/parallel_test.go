package settlement_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/paysettle/settle/internal/settlement"
)

type seen struct {
	Line    int64
	Raw     string
	Reasons []string
}

func sequential(t testing.TB, data []byte, opts settlement.Options) ([]seen, settlement.Counts, error) {
	rd, err := settlement.NewReader(bytes.NewReader(data), opts)
	if err != nil {
		return nil, settlement.Counts{}, err
	}
	var out []seen
	for {
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, rd.Counts(), nil
		}
		if err != nil {
			return nil, settlement.Counts{}, err
		}
		out = append(out, seen{r.Line, string(r.Raw), append([]string(nil), r.Reasons...)})
	}
}

func parallel(t testing.TB, data []byte, opts settlement.Options, block int) ([]seen, settlement.Counts, error) {
	var out []seen
	_, counts, err := settlement.ReadParallel(bytes.NewReader(data), settlement.ParallelOptions{Options: opts, Workers: 3, BlockBytes: block},
		func(cr *settlement.ChunkRows) ([]seen, error) {
			var s []seen
			for r := cr.Next(); r != nil; r = cr.Next() {
				s = append(s, seen{r.Line, string(r.Raw), append([]string(nil), r.Reasons...)})
			}
			return s, nil
		},
		func(s []seen) error { out = append(out, s...); return nil })
	return out, counts, err
}

// TestParallelReadsLikeSequential: the parallel reader yields the same rows, in the same order, with the
// same raw text and reasons, and the same counts as the sequential one, whatever the block size, both
// when blocks are cut at record ends and when a record longer than the limit and a block hands the rest
// of the file to the sequential splitter (MaxRecordBytes 40).
func TestParallelReadsLikeSequential(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.csv")
	header, _, _ := bytes.Cut(fixture(t, "default30.csv"), []byte("\n"))
	inputs := map[string][]byte{
		"generated": generate(t, 3000, 11),
		"quoted line breaks": []byte(string(header) + "\n" +
			"a,\"b\nc\",\"d\"\"\n\"\r\n\n  \nx\"y,\"z\"w,\"\"\n\"unterminated\nlast,line\n"),
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		inputs[filepath.Base(f)] = b
	}
	for name, data := range inputs {
		for _, opts := range []settlement.Options{{}, {MaxRecordBytes: 40}} {
			want, wantCounts, wantErr := sequential(t, data, opts)
			for _, block := range []int{3, 64, 1000, 1 << 20} {
				got, counts, err := parallel(t, data, opts, block)
				if fmt.Sprint(err) != fmt.Sprint(wantErr) || counts != wantCounts || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s, limit %d, blocks of %d: parallel %v %+v (%d rows), sequential %v %+v (%d rows)",
						name, opts.MaxRecordBytes, block, err, counts, len(got), wantErr, wantCounts, len(want))
				}
			}
		}
	}
}

// TestValidateChunkedLikeSequential: merging per-chunk validators gives the report of one pass.
func TestValidateChunkedLikeSequential(t *testing.T) {
	for _, name := range []string{"default30.csv", "bad_rows.csv", "unbalanced.csv", "two_batches.csv", "booking.csv"} {
		data := fixture(t, name)
		want := validateAll(t, data, settlement.DefaultPolicy())
		for _, block := range []int{5, 300, 1 << 20} {
			var rejects bytes.Buffer
			got, err := settlement.ValidateChunked(bytes.NewReader(data), settlement.ParallelOptions{Workers: 2, BlockBytes: block}, settlement.DefaultPolicy(), &rejects)
			if err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if !bytes.Equal(g, w) {
				t.Errorf("%s, blocks of %d:\n got %s\nwant %s", name, block, g, w)
			}
			if n := int64(bytes.Count(rejects.Bytes(), []byte("\n"))); n != want.Counts.Rejected {
				t.Errorf("%s: %d rejects written, want %d", name, n, want.Counts.Rejected)
			}
		}
	}
	data := generate(t, 20000, 5)
	want := validateAll(t, data, settlement.DefaultPolicy())
	got, err := settlement.ValidateChunked(bytes.NewReader(data), settlement.ParallelOptions{Workers: 2, BlockBytes: 100_000}, settlement.DefaultPolicy(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("generated:\n got %s\nwant %s", g, w)
	}
}

// TestValidateReportWholeFileErrors: a file with a header and no data rows, or no header at all, is an
// InvalidFileError naming the reason; nothing is rejected row by row.
func TestValidateReportWholeFileErrors(t *testing.T) {
	for name, want := range map[string]string{
		"header_only.csv":  "the report has a header but no data rows (1 lines)",
		"empty.csv":        "the file is empty: no header line",
		"not_a_report.csv": "none of its 23 required columns",
	} {
		var rejects bytes.Buffer
		_, err := settlement.ValidateReport(bytes.NewReader(fixture(t, name)), settlement.Options{}, settlement.DefaultPolicy(), &rejects)
		var ife *settlement.InvalidFileError
		if !errors.As(err, &ife) || !bytes.Contains([]byte(err.Error()), []byte(want)) || rejects.Len() != 0 {
			t.Errorf("%s: err = %v, rejects %d bytes; want an InvalidFileError containing %q", name, err, rejects.Len(), want)
		}
	}
}

// TestBlocksDependOnTheFileAlone: blocks are cut after the last record end within each further
// BlockBytes of the file, whatever buffers the reader reuses, so that batches, and the Parquet pages made
// from them, are the same on every run. For a file without quotes the cuts are at the last line break
// before header end + k × BlockBytes.
func TestBlocksDependOnTheFileAlone(t *testing.T) {
	header, rows, _ := bytes.Cut(fixture(t, "default30.csv"), []byte("\n"))
	data := append(append([]byte(nil), header...), '\n')
	for range 40 {
		data = append(data, rows...)
	}
	headerEnd := len(header) + 1
	for _, block := range []int{700, 1000, 4096} {
		var want []int64 // the first line of each chunk after the first
		for end := headerEnd + block; end < len(data); end += block {
			cut := bytes.LastIndexByte(data[:end], '\n') + 1
			want = append(want, int64(bytes.Count(data[:cut], []byte("\n")))+1)
		}
		for run := range 5 {
			var got []int64
			_, _, err := settlement.ReadParallel(bytes.NewReader(data), settlement.ParallelOptions{Workers: 3, BlockBytes: block},
				func(cr *settlement.ChunkRows) (int64, error) {
					first := int64(0)
					for r := cr.Next(); r != nil; r = cr.Next() {
						if first == 0 {
							first = r.Line
						}
					}
					return first, nil
				},
				func(first int64) error {
					if first != 2 { // the first chunk starts after the header
						got = append(got, first)
					}
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("blocks of %d, run %d: chunks start on lines %v, want %v", block, run+1, got, want)
			}
		}
	}
}
