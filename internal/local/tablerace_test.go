package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// TestReaderNeverSeesABatchTwice: while twelve regenerated versions of a committed batch are replaced in
// at once, each Write then redriven, a reader scans the Iceberg table over and over. Every snapshot it
// reads holds the batch exactly once (never both versions, never none), and the table ends holding the
// version its manifest names.
func TestReaderNeverSeesABatchTwice(t *testing.T) {
	ctx := t.Context()
	raw, err := store.NewDir(local.RawBucket, t.TempDir(), store.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	proc, err := store.NewDir(local.ProcessedBucket, t.TempDir(), store.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	steps := newSteps(raw, proc)
	put := func(i int) store.Object {
		var b strings.Builder
		if _, err := gen.Write(&b, gen.Config{Rows: 30 + i, Seed: uint64(100 + i), Batch: 5, SettlementDate: "2024-05-03"}); err != nil {
			t.Fatal(err)
		}
		return mustPutObject(t, raw, fmt.Sprintf("incoming/batch5-v%d.csv", i), []byte(b.String()))
	}
	if _, err := steps.Write(ctx, through(t, steps, put(0), "v0", false)); err != nil {
		t.Fatal(err)
	}
	const versions, rounds = 12, 4
	tab := icetable.Open(proc)
	var done atomic.Bool
	var reads, bad atomic.Int64
	var firstBad atomic.Value
	var reader sync.WaitGroup
	reader.Go(func() {
		for !done.Load() {
			tbl, _, err := tab.Current(context.Background())
			if err != nil {
				firstBad.CompareAndSwap(nil, err.Error())
				bad.Add(1)
				continue
			}
			files, err := icetable.Files(context.Background(), tbl)
			if err != nil {
				firstBad.CompareAndSwap(nil, err.Error())
				bad.Add(1)
				continue
			}
			n := 0
			for _, f := range files {
				if strings.Contains(f, "-batch-5-") {
					n++
				}
			}
			if n != 1 {
				firstBad.CompareAndSwap(nil, fmt.Sprintf("a snapshot holds batch 5 %d times: %v", n, files))
				bad.Add(1)
			}
			reads.Add(1)
		}
	})

	// Each round, twelve regenerated versions replace the batch's commit at once, each Write then
	// redriven: exactly one replace wins a round, the others find a newer commit than the one they
	// were started against.
	var errs []error
	for r := range rounds {
		ins := make([]workflow.StepInput, versions)
		for i := range ins {
			ins[i] = through(t, steps, put(r*versions+i+1), fmt.Sprintf("r%d-v%d", r, i+1), true)
		}
		errs = make([]error, versions)
		var writers sync.WaitGroup
		for i := range ins {
			writers.Go(func() {
				for range 2 { // the Write, then its redrive
					for attempt := 0; attempt < 100_000; attempt++ {
						_, errs[i] = steps.Write(context.Background(), ins[i])
						var te *workflow.TransientError
						if !errors.As(errs[i], &te) { // waited for another's claim: Step Functions retries it
							break
						}
						runtime.Gosched() // the claim's holder is committing
					}
				}
			})
		}
		writers.Wait()
		if won := checkOneWinner(t, errs); won != 1 {
			t.Errorf("round %d: %d replaces succeeded, want exactly one", r, won)
		}
	}
	done.Store(true)
	reader.Wait()

	if bad.Load() != 0 {
		t.Errorf("%d of %d reads saw the batch other than once; the first: %v", bad.Load(), reads.Load(), firstBad.Load())
	}
	m, _, err := proc.Get(ctx, workflow.ManifestKey("PaySettleShopEU", 5))
	if err != nil {
		t.Fatal(err)
	}
	var man workflow.Manifest
	if err := json.Unmarshal(m, &man); err != nil {
		t.Fatal(err)
	}
	st, err := tab.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tv, err := workflow.TableVersionOf(&man)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Files) != 1 || st.Files[0] != tv.File {
		t.Errorf("the table holds %v; the manifest commits %s", st.Files, tv.File)
	}
	if rep := verify(t, proc, time.Now()); !rep.OK() {
		t.Errorf("verify: %v", rep.Findings)
	}
	t.Logf("%d reads of the table during %d rounds of %d racing replaces and their redrives, all consistent", reads.Load(), rounds, versions)
}

// checkOneWinner counts the Writes that succeeded; the others must have ended in a ConflictError.
func checkOneWinner(t *testing.T, errs []error) int {
	t.Helper()
	won := 0
	for i, err := range errs {
		var ce *workflow.ConflictError
		switch {
		case err == nil:
			won++
		case !errors.As(err, &ce):
			t.Errorf("v%d: %v", i+1, err)
		}
	}
	return won
}
