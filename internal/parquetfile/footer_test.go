package parquetfile

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/paysettle/settle/internal/settlement"
)

// bytesRange serves ranged reads of one in-memory object.
type bytesRange []byte

func (b bytesRange) OpenRange(_ context.Context, _, _ string, off, n int64) (io.ReadCloser, error) {
	end := min(off+n, int64(len(b)))
	return io.NopCloser(bytes.NewReader(b[off:end])), nil
}

// A job's Metadata is in the file's footer, read back by Metadata; a key it does not set is absent; the
// rows are the same as without it.
func TestFooterMetadata(t *testing.T) {
	report, err := os.ReadFile("../../testdata/sample/settlement_detail_report_batch_57.csv")
	if err != nil {
		t.Fatal(err)
	}
	value := `{"merchant_account":"AcmeShopNL","batch_number":57}`
	var plain, with bytes.Buffer
	job := settlement.Job{Key: "incoming/57.csv", ETag: "e57"}
	if _, err := Stage(bytes.NewReader(report), &plain, job); err != nil {
		t.Fatal(err)
	}
	job.Metadata = map[string]string{"settle.manifest": value, "b": "2"}
	counts, err := Stage(bytes.NewReader(report), &with, job)
	if err != nil || counts.Valid != 11 {
		t.Fatalf("stage: %+v, %v", counts, err)
	}
	ctx := t.Context()
	got, ok, err := Metadata(ctx, bytesRange(with.Bytes()), "k", "", int64(with.Len()), "settle.manifest")
	if err != nil || !ok || got != value {
		t.Errorf("settle.manifest = %q, %v, %v; want %q", got, ok, err, value)
	}
	if got, ok, err := Metadata(ctx, bytesRange(plain.Bytes()), "k", "", int64(plain.Len()), "settle.manifest"); err != nil || ok {
		t.Errorf("a file staged without metadata has settle.manifest = %q (%v, %v)", got, ok, err)
	}
	for _, f := range []bytes.Buffer{plain, with} {
		rows, sources, err := Sources(ctx, bytesRange(f.Bytes()), "k", "", int64(f.Len()))
		if err != nil || rows != 11 || len(sources) != 1 || sources[0] != "e57" {
			t.Errorf("footer: %d rows from %v (%v); want 11 from e57", rows, sources, err)
		}
	}
}
