package workflow

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// TableReader reads the Iceberg table for the consistency check (icetable.Table).
type TableReader interface {
	// State is the table as of its latest commit; nil when nothing was committed yet.
	State(ctx context.Context) (*TableState, error)
	// SnapshotOf is the kept snapshot that added v to the table, if the table holds that version of its
	// batch still: nil when it does not, or that snapshot has expired.
	SnapshotOf(ctx context.Context, v TableVersion) (*TableSnapshot, error)
	// HasFile says whether the table's data file file (TableFile) exists.
	HasFile(ctx context.Context, file string) (bool, error)
}

// TableSnapshot names the Iceberg snapshot a batch version was committed in.
type TableSnapshot struct {
	ID       int64     `json:"snapshot_id"`
	Sequence int64     `json:"sequence_number"`
	At       time.Time `json:"committed"`
	// Version is the table's latest commit number, and Current whether the snapshot is its current one.
	Version int  `json:"table_version"`
	Current bool `json:"current"`
}

// TableState is the Iceberg table as of one commit: its record of each batch's version, and the data
// files its snapshot reads.
type TableState struct {
	Version int
	Batches []TableVersion
	Files   []string // relative to the table, sorted
}

const tableRemedy = "commit the table from the manifests"

func (tv TableVersion) batch() string {
	return fmt.Sprintf("%s/%s/%d", tv.Provider, tv.MerchantAccount, tv.Batch)
}

// checkTable compares the Iceberg table with the committed manifests: each committed version is the one
// the table holds for its batch, the table holds no other batch, and its snapshot reads exactly the data
// files of its record, all present.
func (v *Verifier) checkTable(ctx context.Context, committed []*Manifest, keys []string, add func(Finding)) error {
	st, err := v.Table.State(ctx)
	if err != nil {
		return fmt.Errorf("read the Iceberg table: %w", err)
	}
	if st == nil {
		st = &TableState{}
	}
	held := map[string]TableVersion{}
	for _, tv := range st.Batches {
		held[tv.batch()] = tv
	}
	for i, m := range committed {
		want, err := TableVersionOf(m)
		if err != nil {
			add(Finding{Kind: FindingTable, Key: keys[i], Batch: m.batch(), Detail: err.Error(),
				Remedy: "reprocess the batch's file with --replace: its new commit records what the table needs"})
			continue
		}
		got, ok := held[m.batch()]
		delete(held, m.batch())
		switch {
		case !ok:
			at := fmt.Sprintf("the Iceberg table (version %d) does not hold the batch", st.Version)
			if st.Version == 0 {
				at = "the Iceberg table has no commit yet"
			}
			add(Finding{Kind: FindingTable, Key: keys[i], Batch: m.batch(), Detail: fmt.Sprintf(
				"committed from %s, but %s", m.Source.URL(), at),
				Remedy: tableRemedy, Command: "table sync"})
		case got.File != want.File:
			add(Finding{Kind: FindingTable, Key: keys[i], Batch: m.batch(), Detail: fmt.Sprintf(
				"committed from %s (etag %s), but the Iceberg table (version %d) holds the version of the report with etag %s",
				m.Source.URL(), m.Source.ETag, st.Version, got.SourceETag),
				Remedy: tableRemedy, Command: "table sync"})
		}
	}
	for _, b := range slices.Sorted(maps.Keys(held)) {
		tv := held[b]
		add(Finding{Kind: FindingTable, Key: TableKey(tv.File), Batch: b, Detail: fmt.Sprintf(
			"the Iceberg table (version %d) holds the batch from the report with etag %s, which no manifest commits", st.Version, tv.SourceETag),
			Remedy: "the table holds everything its manifest said; write it again from the table", Command: "table rebuild"})
	}
	recorded := make([]string, 0, len(st.Batches))
	for _, tv := range st.Batches {
		recorded = append(recorded, tv.File)
	}
	slices.Sort(recorded)
	if !slices.Equal(recorded, st.Files) {
		add(Finding{Kind: FindingTable, Key: TablePrefix, Detail: fmt.Sprintf(
			"the snapshot of version %d reads %d data files, but the table records %d batch versions: %s",
			st.Version, len(st.Files), len(recorded), diffFiles(st.Files, recorded)),
			Remedy: "the table was changed by something other than this pipeline: restore it from a maintained copy or rebuild it"})
	}
	for _, f := range st.Files {
		ok, err := v.Table.HasFile(ctx, f)
		if err != nil {
			return fmt.Errorf("head the Iceberg table's %s: %w", f, err)
		}
		if !ok {
			add(Finding{Kind: FindingTable, Key: TableKey(f), Detail: fmt.Sprintf("the snapshot of version %d reads a data file that does not exist", st.Version),
				Remedy: "something deleted a live data file: reprocess its batch's file with --replace"})
		}
	}
	return nil
}

// tableStillDiffers confirms a table finding about a batch: its manifest and the table read again still
// disagree (a write between its manifest and its table commit had made them differ for a moment).
func (v *Verifier) tableStillDiffers(ctx context.Context, f Finding) (bool, error) {
	if !strings.HasPrefix(f.Key, ManifestPrefix) {
		return true, nil
	}
	m, _, err := readManifestAt(ctx, v.Processed, f.Key)
	if err != nil || m == nil {
		return err == nil, err
	}
	want, err := TableVersionOf(m)
	if err != nil {
		return true, nil
	}
	st, err := v.Table.State(ctx)
	if err != nil || st == nil {
		return err == nil, err
	}
	for _, tv := range st.Batches {
		if tv.batch() == m.batch() {
			return tv.File != want.File, nil
		}
	}
	return true, nil
}

func diffFiles(snapshot, recorded []string) string {
	var only []string
	for _, f := range snapshot {
		if !slices.Contains(recorded, f) {
			only = append(only, "read but not recorded: "+f)
		}
	}
	for _, f := range recorded {
		if !slices.Contains(snapshot, f) {
			only = append(only, "recorded but not read: "+f)
		}
	}
	return strings.Join(only, "; ")
}

// LazyTable is a table reader opened by open on first use, and again after a failed open: a table that
// cannot be reached fails the calls that need it, not the start of what holds it.
func LazyTable(open func(context.Context) (TableReader, error)) TableReader {
	return &lazyTable{open: open}
}

type lazyTable struct {
	open func(context.Context) (TableReader, error)
	mu   sync.Mutex
	r    TableReader
}

func (l *lazyTable) get(ctx context.Context) (TableReader, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.r == nil {
		r, err := l.open(ctx)
		if err != nil {
			return nil, err
		}
		l.r = r
	}
	return l.r, nil
}

func (l *lazyTable) State(ctx context.Context) (*TableState, error) {
	r, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return r.State(ctx)
}

func (l *lazyTable) SnapshotOf(ctx context.Context, v TableVersion) (*TableSnapshot, error) {
	r, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return r.SnapshotOf(ctx, v)
}

func (l *lazyTable) HasFile(ctx context.Context, file string) (bool, error) {
	r, err := l.get(ctx)
	if err != nil {
		return false, err
	}
	return r.HasFile(ctx, file)
}
