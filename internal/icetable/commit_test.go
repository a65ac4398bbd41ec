package icetable

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// noWait is a committer's wait after a lost swap in tests: none but letting the winner run (each lost
// swap is another committer's progress, so the losses stay bounded by the commits).
func noWait(ctx context.Context, _ time.Duration) error {
	runtime.Gosched()
	return ctx.Err()
}

// openTest is Open with noWait.
func openTest(b store.Bucket) *Table {
	t := Open(b)
	t.Wait = noWait
	return t
}

func newDir(t *testing.T) *store.Dir {
	t.Helper()
	d, err := store.NewDir("processed", t.TempDir(), store.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// version puts a data file for batch of merchant, as content, and describes it.
func version(t *testing.T, b store.Bucket, merchant string, batch int64, content string) *workflow.TableVersion {
	t.Helper()
	obj, err := b.Put(t.Context(), "staging/x", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	file := workflow.TableFile("2024-05-03", merchant, batch, obj.ETag)
	if _, err := b.Copy(t.Context(), "staging/x", workflow.TableKey(file)); err != nil {
		t.Fatal(err)
	}
	return &workflow.TableVersion{Provider: "adyen", MerchantAccount: merchant, Batch: batch, SettlementDate: "2024-05-03",
		File: file, Rows: int64(len(content)), Bytes: obj.Size, Source: "s3://raw/" + content, SourceETag: "e-" + content}
}

func wants(v *workflow.TableVersion) func(context.Context) (*workflow.TableVersion, error) {
	return func(context.Context) (*workflow.TableVersion, error) { return v, nil }
}

// files is the data files of the table's current snapshot.
func files(t *testing.T, tbl *table.Table) []string {
	t.Helper()
	s := tbl.CurrentSnapshot()
	if s == nil {
		return nil
	}
	fio, _ := tbl.FS(t.Context())
	mans, err := s.Manifests(fio)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range mans {
		for e, err := range m.Entries(fio, true) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e.DataFile().FilePath())
		}
	}
	return out
}

func TestCommitAddsReplacesAndRepeats(t *testing.T) {
	d := newDir(t)
	tab := openTest(d)
	v1 := version(t, d, "Acme", 3, "first")
	out, err := tab.Commit(t.Context(), wants(v1))
	if err != nil || out.Action != "added" || out.Version != 2 || out.Snapshot == 0 {
		t.Fatalf("first commit: %+v, %v", out, err)
	}
	again, err := tab.Commit(t.Context(), wants(v1))
	if err != nil || again.Action != "unchanged" || again.Snapshot != out.Snapshot || again.Version != 2 {
		t.Fatalf("the same version again: %+v, %v (first: %+v)", again, err, out)
	}
	v2 := version(t, d, "Acme", 3, "second")
	rep, err := tab.Commit(t.Context(), wants(v2))
	if err != nil || rep.Action != "replaced" || rep.Version != 3 {
		t.Fatalf("replace: %+v, %v", rep, err)
	}
	cur, n, err := tab.Current(t.Context())
	if err != nil || n != 3 {
		t.Fatalf("current: version %d, %v", n, err)
	}
	if got := files(t, cur); len(got) != 1 || got[0] != tab.Home.Location+"/"+v2.File {
		t.Fatalf("after the replace the table holds %v, want only %s", got, v2.File)
	}
	before, err := tab.AtVersion(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := files(t, before); len(got) != 1 || got[0] != tab.Home.Location+"/"+v1.File {
		t.Fatalf("version 2 holds %v, want only %s", got, v1.File)
	}
	if s := cur.CurrentSnapshot(); s.Summary.Properties[SummaryReplaced] != v1.File || s.Summary.Properties[SummaryETag] != "e-second" {
		t.Fatalf("the replace's summary: %v", s.Summary.Properties)
	}
}

func TestConcurrentCommittersCommitEachBatchOnce(t *testing.T) {
	d := newDir(t)
	tab := openTest(d)
	const committers = 8
	vs := make([]*workflow.TableVersion, committers)
	for i := range vs {
		vs[i] = version(t, d, "Acme", int64(i+1), fmt.Sprint("batch ", i+1))
	}
	var wg sync.WaitGroup
	outs := make([]workflow.TableCommit, committers*2)
	errs := make([]error, committers*2)
	for i := range committers * 2 { // every batch by two committers at once
		wg.Go(func() { outs[i], errs[i] = tab.Commit(context.Background(), wants(vs[i%committers])) })
	}
	wg.Wait()
	added, lost := 0, 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("committer %d: %v", i, err)
		}
		if outs[i].Action == "added" {
			added++
		}
		lost += outs[i].LostSwaps
	}
	cur, n, err := tab.Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if added != committers || n != committers+1 || len(files(t, cur)) != committers {
		t.Fatalf("%d adds, version %d, %d files; want %d adds and files, version %d", added, n, len(files(t, cur)), committers, committers+1)
	}
	t.Logf("%d lost swaps among %d committers", lost, committers*2)
}

// A committer that loses the swap decides again against the table that won: when the winner committed a
// newer version of the batch, the loser's wish (read again) decides what is left.
func TestLostSwapDecidesAgain(t *testing.T) {
	d := newDir(t)
	tab := openTest(d)
	v1 := version(t, d, "Acme", 3, "first")
	v2 := version(t, d, "Acme", 3, "second")
	if _, err := tab.Commit(t.Context(), wants(v1)); err != nil {
		t.Fatal(err)
	}
	asked := 0
	out, err := tab.Commit(t.Context(), func(ctx context.Context) (*workflow.TableVersion, error) {
		asked++
		if asked == 1 { // another committer replaces the batch between this one's read and its swap
			if _, err := tab.Commit(ctx, wants(v2)); err != nil {
				return nil, err
			}
		}
		return v2, nil
	})
	if err != nil || out.LostSwaps != 1 || out.Action != "unchanged" || asked != 2 {
		t.Fatalf("%+v, %v after %d decisions", out, err, asked)
	}
	if _, err := tab.Commit(t.Context(), func(context.Context) (*workflow.TableVersion, error) { return nil, errors.New("no manifest") }); err == nil {
		t.Fatal("an error deciding is the commit's error")
	}
}

func TestIndexEntriesReadBack(t *testing.T) {
	for _, merchant := range []string{"Acme", "Acme/EU", "Acme Shop"} {
		v := &workflow.TableVersion{Provider: "adyen", MerchantAccount: merchant, Batch: 42, SettlementDate: "2024-05-03",
			File: workflow.TableFile("2024-05-03", merchant, 42, "abc"), Rows: 7, Bytes: 900, Revision: 2, SourceETag: "e f"}
		for _, arrived := range []time.Time{{}, time.Date(2024, 5, 3, 9, 1, 2, 345678901, time.UTC)} {
			v.Arrived = arrived
			got, err := parseIndex(batchProperty(v.Provider, v.MerchantAccount, v.Batch), indexValue(v))
			if err != nil || !reflect.DeepEqual(got, v) {
				t.Errorf("%q: read back %+v, %v; want %+v", merchant, got, err, v)
			}
		}
		// An entry written before the index recorded the arrival.
		v.Arrived = time.Time{}
		old := fmt.Sprintf("%d %d %d %s %s", v.Rows, v.Bytes, v.Revision, v.File, v.SourceETag)
		if got, err := parseIndex(batchProperty(v.Provider, v.MerchantAccount, v.Batch), old); err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("%q: read back the earlier form as %+v, %v; want %+v", merchant, got, err, v)
		}
	}
	if _, err := parseIndex("settle.batch/adyen/Acme/x", "1 2 3 f e"); err == nil {
		t.Error("a batch that is not a number reads")
	}
}
