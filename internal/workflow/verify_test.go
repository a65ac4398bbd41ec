package workflow_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// committedTable is a processed bucket with two batches committed: 7 (2024-05-03) and 8 (2024-05-04).
func committedTable(t *testing.T) (*fixture, []workflow.StepInput) {
	t.Helper()
	f := newFixture(t, workflow.Config{})
	var ins []workflow.StepInput
	for i, cfg := range []gen.Config{{Rows: 30, Seed: 1, Batch: 7, SettlementDate: "2024-05-03"}, {Rows: 31, Seed: 2, Batch: 8, SettlementDate: "2024-05-04"}} {
		in := f.through(f.upload("batch"+string(rune('7'+i))+".csv", report(t, cfg)))
		if _, err := f.steps.Write(t.Context(), in); err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in)
	}
	return f, ins
}

func (f *fixture) verify(deep bool) *workflow.VerifyReport {
	f.t.Helper()
	v := workflow.Verifier{Processed: f.proc, Now: func() time.Time { return f.now }}
	if deep {
		v.Content = func(ctx context.Context, b store.Bucket, obj store.Object) (int64, []string, error) {
			return parquetfile.Sources(ctx, b, obj.Key, obj.ETag, obj.Size)
		}
	}
	rep, err := v.Verify(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return rep
}

// findings lists a report's findings as "kind key".
func findings(rep *workflow.VerifyReport) []string {
	var out []string
	for _, fd := range rep.Findings {
		out = append(out, fd.ID())
	}
	return out
}

// TestVerifyFindsEachInconsistency injects, one at a time, each inconsistency a broken commit can leave
// (the end states the operator schedules left before the protocol closed them among them) and expects
// exactly the finding that names it, with its remedy; the clean table has none.
func TestVerifyFindsEachInconsistency(t *testing.T) {
	ctx := t.Context()
	p7 := workflow.PartitionKey("2024-05-03", "PaySettleShopEU", 7)
	p8 := workflow.PartitionKey("2024-05-04", "PaySettleShopEU", 8)
	m7 := workflow.ManifestKey("PaySettleShopEU", 7)
	for _, tc := range []struct {
		name    string
		inject  func(t *testing.T, f *fixture, ins []workflow.StepInput)
		deep    bool
		want    []string
		command string // the first finding's command
	}{
		{name: "clean", inject: func(*testing.T, *fixture, []workflow.StepInput) {}, deep: true},
		{
			// Schedules 1 and 2, different dates: a replaced or losing version's object left beside the commit.
			name: "orphan object",
			inject: func(t *testing.T, f *fixture, _ []workflow.StepInput) {
				copyObject(t, f.proc, p7, workflow.PartitionKey("2024-05-05", "PaySettleShopEU", 7))
			},
			want: []string{workflow.FindingOrphanObject + " " + workflow.PartitionKey("2024-05-05", "PaySettleShopEU", 7)},
		},
		{
			// Schedule 1, same date: another version's bytes under the committed manifest.
			name:    "changed object",
			inject:  func(t *testing.T, f *fixture, _ []workflow.StepInput) { copyObject(t, f.proc, p8, p7) },
			want:    []string{workflow.FindingChangedObject + " " + p7},
			command: "reprocess s3://raw/incoming/batch7.csv --replace",
		},
		{
			name: "missing object",
			inject: func(t *testing.T, f *fixture, _ []workflow.StepInput) {
				if err := f.proc.Delete(ctx, p8); err != nil {
					t.Fatal(err)
				}
			},
			want:    []string{workflow.FindingMissingObject + " " + p8},
			command: "reprocess s3://raw/incoming/batch8.csv --replace",
		},
		{
			name: "counts",
			inject: func(t *testing.T, f *fixture, _ []workflow.StepInput) {
				editManifest(t, f.proc, m7, func(m *workflow.Manifest) { m.Counts.RowsRejected++ })
			},
			want: []string{workflow.FindingCounts + " " + m7},
		},
		{
			// Schedule 3: a Write dead between publish and manifest, its claim older than the lease.
			name: "stale claim",
			inject: func(t *testing.T, f *fixture, ins []workflow.StepInput) {
				f.putClaim(ins[0], f.now.Add(-workflow.ClaimLease-time.Minute))
			},
			want:    []string{workflow.FindingStaleClaim + " " + workflow.ClaimKey("PaySettleShopEU", 7)},
			command: "redrive " + "exec-7",
		},
		{
			// Schedule 7's other half: staging no redrive can publish any more.
			name: "stale staging",
			inject: func(t *testing.T, f *fixture, _ []workflow.StepInput) {
				storePut(t, f.proc, workflow.StagingKey("0123", "exec-x"), []byte("PAR1"))
				f.now = time.Now().Add(workflow.RedriveWindow + 24*time.Hour) // the folder's times are the real clock's
			},
			want: []string{workflow.FindingStaleStaging + " " + workflow.StagingKey("0123", "exec-x")},
		},
		{
			// Schedule 6: a commit the ledger missed.
			name: "ledger",
			inject: func(t *testing.T, f *fixture, _ []workflow.StepInput) {
				if err := f.proc.Delete(ctx, workflow.LedgerKey("adyen", "PaySettleShopEU")); err != nil {
					t.Fatal(err)
				}
			},
			want:    []string{workflow.FindingLedger + " " + m7, workflow.FindingLedger + " " + workflow.ManifestKey("PaySettleShopEU", 8)},
			command: "ledger --rebuild",
		},
		{
			// The deep check reads rows: a manifest whose row count was changed by hand.
			name: "content",
			inject: func(t *testing.T, f *fixture, _ []workflow.StepInput) {
				editManifest(t, f.proc, m7, func(m *workflow.Manifest) {
					m.Partitions[0].Rows--
					m.Counts.RowsWritten--
					m.Counts.RowsRejected++
				})
			},
			deep: true,
			want: []string{workflow.FindingContent + " " + p7},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ins := committedTable(t)
			ins[0].Execution = "exec-7"
			tc.inject(t, f, ins)
			rep := f.verify(tc.deep)
			if got := findings(rep); !slices.Equal(got, tc.want) {
				t.Fatalf("findings %v, want %v", rep.Findings, tc.want)
			}
			if tc.command != "" && rep.Findings[0].Command != tc.command {
				t.Errorf("remedy %q, want %q", rep.Findings[0].Command, tc.command)
			}
			for _, fd := range rep.Findings {
				if fd.Remedy == "" || fd.Detail == "" {
					t.Errorf("%s: no detail or remedy", fd.ID())
				}
			}
		})
	}
}

// TestVerifyListsACommitInFlight: a fresh claim's objects are in flight, not findings; once the claim is
// older than the lease they are.
func TestVerifyListsACommitInFlight(t *testing.T) {
	f, ins := committedTable(t)
	orphan := workflow.PartitionKey("2024-05-09", "PaySettleShopEU", 7)
	copyObject(t, f.proc, workflow.PartitionKey("2024-05-03", "PaySettleShopEU", 7), orphan)
	claim := workflow.Claim{Version: workflow.ClaimVersion, Source: ins[0].File, Execution: "exec-replace", ClaimedAt: f.now, Publish: orphan}
	body, _ := json.Marshal(claim)
	storePut(t, f.proc, workflow.ClaimKey("PaySettleShopEU", 7), body)
	rep := f.verify(false)
	if !rep.OK() || len(rep.InFlight) != 1 || rep.InFlight[0].Execution != "exec-replace" {
		t.Fatalf("findings %v, in flight %+v; want one commit in flight", rep.Findings, rep.InFlight)
	}
	f.now = f.now.Add(workflow.ClaimLease)
	rep = f.verify(false)
	want := []string{workflow.FindingOrphanObject + " " + orphan, workflow.FindingStaleClaim + " " + workflow.ClaimKey("PaySettleShopEU", 7)}
	if got := findings(rep); !slices.Equal(got, want) || !strings.Contains(rep.Findings[1].Detail, "exec-replace") {
		t.Errorf("findings %v, want %v", rep.Findings, want)
	}
}

// TestReplaceByItselfRepublishes: a committed batch whose partition object was lost is repaired by a
// replace of its own file (the remedy verify names): the object is published again, the manifest's
// revision goes up once, and a redrive of that replace changes nothing more.
func TestReplaceByItselfRepublishes(t *testing.T) {
	ctx := t.Context()
	f, ins := committedTable(t)
	p7 := workflow.PartitionKey("2024-05-03", "PaySettleShopEU", 7)
	if err := f.proc.Delete(ctx, p7); err != nil {
		t.Fatal(err)
	}
	in := ins[0]
	in.Execution, in.Replace = in.Execution+"-p1", true
	in = f.through(workflow.StepInput{Execution: in.Execution, File: in.File, Replace: true})
	if in.Check.AlreadyProcessed || in.Check.ReplacesETag != in.File.ETag {
		t.Fatalf("the check of a replace by itself: %+v", in.Check)
	}
	for range 2 { // the second is a redrive after the commit
		if _, err := f.steps.Write(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	m, err := workflow.ReadManifest(ctx, f.proc, workflow.ManifestKey("PaySettleShopEU", 7))
	if err != nil || m.Revision != 1 || m.Execution != in.Execution {
		t.Errorf("manifest %+v, %v; want revision 1 by %s", m, err, in.Execution)
	}
	if rep := f.verify(true); !rep.OK() {
		t.Errorf("after the republish: %v", rep.Findings)
	}
}

func copyObject(t *testing.T, b store.Bucket, src, dst string) {
	t.Helper()
	if _, err := b.Copy(t.Context(), src, dst); err != nil {
		t.Fatal(err)
	}
}

func storePut(t *testing.T, b store.Bucket, key string, data []byte) {
	t.Helper()
	if _, err := b.Put(t.Context(), key, data); err != nil {
		t.Fatal(err)
	}
}

func editManifest(t *testing.T, b store.Bucket, key string, edit func(*workflow.Manifest)) {
	t.Helper()
	m, err := workflow.ReadManifest(t.Context(), b, key)
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	body, _ := json.Marshal(m)
	storePut(t, b, key, body)
}

// TestBatchCheckAlertsEachTableFindingOnce: the scheduled check runs the table's check and sends one
// alert per finding, however often and however many checks run at once, and one resolution when the
// finding is gone.
func TestBatchCheckAlertsEachTableFindingOnce(t *testing.T) {
	ctx := t.Context()
	f, _ := committedTable(t)
	pub := &publisher{}
	check := func() *workflow.BatchCheckResult {
		t.Helper()
		c := &workflow.BatchCheck{Processed: f.proc, Publisher: pub, Now: func() time.Time { return f.now }}
		res, err := c.Handle(ctx, workflow.BatchCheckInput{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := check(); res.TableFindings != 0 || pub.count() != 0 {
		t.Fatalf("a consistent table: %+v, %d messages", res, pub.count())
	}
	orphan := workflow.PartitionKey("2024-05-09", "PaySettleShopEU", 7)
	copyObject(t, f.proc, workflow.PartitionKey("2024-05-03", "PaySettleShopEU", 7), orphan)
	if res := check(); res.TableFindings != 1 || res.Alerts != 1 || pub.count() != 1 || !strings.Contains(pub.msgs[0], "orphan-object adyen/PaySettleShopEU/7") {
		t.Fatalf("an orphan: %+v, messages %v", res, pub.msgs)
	}
	check()
	// A second finding, four checks at once: one more alert.
	if err := f.proc.Delete(ctx, workflow.PartitionKey("2024-05-04", "PaySettleShopEU", 8)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &workflow.BatchCheck{Processed: f.proc, Publisher: pub, Now: func() time.Time { return f.now }}
			if _, err := c.Handle(ctx, workflow.BatchCheckInput{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if pub.count() != 2 || !strings.Contains(pub.msgs[1], "missing-object adyen/PaySettleShopEU/8") {
		t.Fatalf("after a second finding and four checks: %v", pub.msgs)
	}
	if err := f.proc.Delete(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	res := check()
	if res.TableFindings != 1 || res.Resolutions != 1 || pub.count() != 3 || !strings.HasPrefix(pub.msgs[2], "Resolved: settlement table inconsistency orphan-object") {
		t.Fatalf("the orphan removed: %+v, messages %v", res, pub.msgs)
	}
	if check(); pub.count() != 3 {
		t.Errorf("a check with nothing new sent %v", pub.msgs[3:])
	}
}

// BenchmarkVerify: the consistency check of a table of 1,000 committed batches on a folder bucket (one
// manifest read per batch, three listings, one ledger read per merchant account).
func BenchmarkVerify(b *testing.B) {
	ctx := b.Context()
	d, err := store.NewDir("processed", b.TempDir(), store.WithoutSync())
	if err != nil {
		b.Fatal(err)
	}
	const batches = 1000
	parquet := []byte("PAR1 stand-in bytes: the check compares ETags, it does not read them")
	for n := int64(1); n <= batches; n++ {
		key := workflow.PartitionKey("2024-05-03", "ShopEU", n)
		obj, err := d.Put(ctx, key, parquet)
		if err != nil {
			b.Fatal(err)
		}
		m := workflow.Manifest{Version: workflow.ManifestVersion, Provider: "adyen", MerchantAccount: "ShopEU", BatchNumber: n,
			Source:     workflow.FileRef{Bucket: "raw", Key: "incoming/b.csv", ETag: "etag"},
			Partitions: []workflow.Partition{{SettlementDate: "2024-05-03", Rows: 10, Key: key, Bytes: obj.Size, ETag: obj.ETag}},
			Counts:     workflow.ManifestCounts{DataRows: 10, RowsWritten: 10}}
		body, _ := json.Marshal(m)
		if _, err := d.Put(ctx, workflow.ManifestKey("ShopEU", n), body); err != nil {
			b.Fatal(err)
		}
		if _, err := workflow.RecordBatch(ctx, d, "adyen", "ShopEU", workflow.BatchOf(&m, time.Now())); err != nil {
			b.Fatal(err)
		}
	}
	v := workflow.Verifier{Processed: d}
	b.ResetTimer()
	for range b.N {
		rep, err := v.Verify(ctx)
		if err != nil || !rep.OK() || rep.Manifests != batches {
			b.Fatalf("%+v %v", rep, err)
		}
	}
}
