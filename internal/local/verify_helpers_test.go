package local_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// verify runs the table's deep consistency check (every committed object's footer read) at now.
func verify(t *testing.T, b store.Bucket, now time.Time) *workflow.VerifyReport {
	t.Helper()
	v := workflow.Verifier{Processed: b, Now: func() time.Time { return now }, Content: footer}
	if !gated(b) { // the explorations commit no Iceberg table (newSteps)
		v.Table = icetable.Open(b)
	}
	// Not t.Context(): newEnvWith's Cleanup calls verify, after t.Context() is cancelled.
	rep, err := v.Verify(context.Background())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

// footer is the deep check's ContentFunc.
func footer(ctx context.Context, b store.Bucket, obj store.Object) (int64, []string, error) {
	return parquetfile.Sources(ctx, b, obj.Key, obj.ETag, obj.Size)
}

// verifyClean asserts that the table is consistent with its manifests and no commit is in flight.
func verifyClean(t *testing.T, b store.Bucket, now time.Time) {
	t.Helper()
	rep := verify(t, b, now)
	if !rep.OK() || len(rep.InFlight) != 0 {
		t.Errorf("verify: findings %v, in flight %+v; want none", rep.Findings, rep.InFlight)
	}
}

// kinds lists a report's finding kinds.
func kinds(rep *workflow.VerifyReport) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.Kind)
	}
	return out
}

// writeFile writes data to dir/name, creating its folder.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
