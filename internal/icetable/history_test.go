package icetable

import (
	"errors"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

func TestHistoryAsOfAndMaintenance(t *testing.T) {
	d := newDir(t)
	tab := openTest(d)
	v1 := version(t, d, "Acme", 3, "first")
	v2 := version(t, d, "Acme", 3, "second")
	other := version(t, d, "Acme", 4, "other batch")
	for _, v := range []*workflow.TableVersion{v1, other} {
		if _, err := tab.Commit(t.Context(), wants(v)); err != nil {
			t.Fatal(err)
		}
	}
	cur, _, err := tab.Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	closed := cur.CurrentSnapshot().SnapshotID // the month's close, before the replace
	first := time.UnixMilli(cur.Metadata().Snapshots()[0].TimestampMs)
	if _, err := tab.Commit(t.Context(), wants(v2)); err != nil {
		t.Fatal(err)
	}
	hist, version, err := tab.History(t.Context(), "adyen", "Acme", 3)
	if err != nil || version != 4 || len(hist) != 2 {
		t.Fatalf("history: %+v, version %d, %v", hist, version, err)
	}
	if hist[0].ETag != "e-first" || hist[0].Current || hist[1].ETag != "e-second" || hist[1].Replaced != v1.File || !hist[1].Current {
		t.Errorf("history: %+v", hist)
	}
	if _, err := tab.AsOf(t.Context(), first.Add(-time.Millisecond)); !errors.Is(err, ErrNoTable) {
		t.Errorf("as of before the first commit: %v, want ErrNoTable", err)
	}
	then, err := tab.AtSnapshot(t.Context(), closed)
	if err != nil || then.Files != 2 || then.Rows != v1.Rows+other.Rows || then.Current {
		t.Fatalf("as of the close: %+v, %v", then, err)
	}
	now, err := tab.AsOf(t.Context(), time.Now())
	if err != nil || now.Rows != v2.Rows+other.Rows || !now.Current {
		t.Fatalf("as of now: %+v, %v", now, err)
	}

	dry, err := tab.Maintain(t.Context(), 0, 0, true)
	if err != nil || dry.ExpiredSnapshots != 2 || dry.KeptSnapshots != 1 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if _, err := d.Head(t.Context(), workflow.TableKey(v1.File)); err != nil {
		t.Fatalf("a dry run deleted %s: %v", v1.File, err)
	}
	m, err := tab.Maintain(t.Context(), 0, 0, false)
	if err != nil || m.ExpiredSnapshots != 2 || m.KeptSnapshots != 1 || m.Version != 5 {
		t.Fatalf("maintenance: %+v, %v", m, err)
	}
	if _, err := d.Head(t.Context(), workflow.TableKey(v1.File)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the replaced data file stays after its snapshots expired: %v", err)
	}
	for _, v := range []*workflow.TableVersion{v2, other} {
		if _, err := d.Head(t.Context(), workflow.TableKey(v.File)); err != nil {
			t.Errorf("maintenance removed a live data file %s: %v", v.File, err)
		}
	}
	if _, err := tab.AtSnapshot(t.Context(), closed); !errors.Is(err, ErrNoTable) {
		t.Errorf("the close is still readable after its snapshot expired: %v", err)
	}
	st, err := tab.State(t.Context())
	if err != nil || len(st.Files) != 2 || len(st.Batches) != 2 {
		t.Fatalf("after maintenance: %+v, %v", st, err)
	}
}
