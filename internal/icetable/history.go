package icetable

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/paysettle/settle/internal/workflow"
)

// Commit is one snapshot of the table: a batch version's commit, or maintenance.
type Commit struct {
	Snapshot  int64
	At        time.Time
	Operation string // append, overwrite, delete, replace
	Provider  string
	Merchant  string
	Batch     int64
	Source    string
	ETag      string
	Revision  int64
	Execution string
	File      string
	Replaced  string // the data file this commit took out, for a replace
	Current   bool   // the table's current snapshot
}

func commitOf(s table.Snapshot, current int64) Commit {
	c := Commit{Snapshot: s.SnapshotID, At: time.UnixMilli(s.TimestampMs).UTC(), Current: s.SnapshotID == current}
	if s.Summary == nil {
		return c
	}
	p := s.Summary.Properties
	c.Operation = string(s.Summary.Operation)
	c.Provider, c.Merchant, c.Source, c.ETag = p[SummaryProvider], p[SummaryMerchant], p[SummarySource], p[SummaryETag]
	c.Execution, c.File, c.Replaced = p[SummaryExecution], p[SummaryFile], p[SummaryReplaced]
	c.Batch, _ = strconv.ParseInt(p[SummaryBatch], 10, 64)
	c.Revision, _ = strconv.ParseInt(p[SummaryRevision], 10, 64)
	return c
}

// History lists the commits of one batch that the table's kept snapshots record, oldest first: each
// version, when, from which file, and the file it replaced. Snapshots older than the retention have
// expired and are not listed.
func (t *Table) History(ctx context.Context, provider, merchant string, batch int64) ([]Commit, int, error) {
	tbl, version, err := t.Current(ctx)
	if err != nil {
		return nil, 0, err
	}
	var cur int64
	if s := tbl.CurrentSnapshot(); s != nil {
		cur = s.SnapshotID
	}
	var out []Commit
	for _, s := range tbl.Metadata().Snapshots() {
		c := commitOf(s, cur)
		if c.Provider == provider && c.Merchant == merchant && c.Batch == batch {
			out = append(out, c)
		}
	}
	return out, version, nil
}

// Snapshot is the table as of one moment: its snapshot then, and what a reader counts in it.
type Snapshot struct {
	Commit
	Files int
	Rows  int64
	// Batches counts the data files per merchant account.
	Batches map[string]int
}

// AsOf is the table as it was at moment: the snapshot current then (time travel), with its files and
// rows read from its manifests. ErrNoTable when no kept snapshot is that old.
func (t *Table) AsOf(ctx context.Context, moment time.Time) (*Snapshot, error) {
	tbl, _, err := t.Current(ctx)
	if err != nil {
		return nil, err
	}
	s := tbl.SnapshotAsOf(moment.UnixMilli(), true)
	if s == nil {
		return nil, fmt.Errorf("%w as of %s (or its snapshots have expired)", ErrNoTable, moment.UTC().Format(time.RFC3339))
	}
	return describe(ctx, tbl, s)
}

// AtSnapshot is the table as snapshot id left it; ErrNoTable when it is not kept.
func (t *Table) AtSnapshot(ctx context.Context, id int64) (*Snapshot, error) {
	tbl, _, err := t.Current(ctx)
	if err != nil {
		return nil, err
	}
	s := tbl.Metadata().SnapshotByID(id)
	if s == nil {
		return nil, fmt.Errorf("%w: snapshot %d is not kept", ErrNoTable, id)
	}
	return describe(ctx, tbl, s)
}

func describe(ctx context.Context, tbl *table.Table, s *table.Snapshot) (*Snapshot, error) {
	var cur int64
	if c := tbl.CurrentSnapshot(); c != nil {
		cur = c.SnapshotID
	}
	out := &Snapshot{Commit: commitOf(*s, cur), Batches: map[string]int{}}
	err := eachDataFile(ctx, tbl, s, func(df iceberg.DataFile) {
		out.Files++
		out.Rows += df.Count()
		name := relative(tbl.Location(), df.FilePath())
		base := name[strings.LastIndexByte(name, '/')+1:]
		if i := strings.Index(base, "-batch-"); i > 0 {
			out.Batches[base[:i]]++
		}
	})
	return out, err
}

// Maintenance is what Maintain did (or, for a dry run, would do).
type Maintenance struct {
	Version          int // the table's version after it
	ExpiredSnapshots int
	KeptSnapshots    int
	RemovedFiles     []string // data, manifest and metadata files no kept snapshot needs
}

// ErrMaintainedByCatalog is Maintain's answer for a table whose catalog maintains it (S3 Tables: its
// snapshot management and unreferenced file removal, set in the template, run on their own; its
// warehouse is not listed nor deleted from by clients).
var ErrMaintainedByCatalog = errors.New("S3 Tables maintains this table itself: snapshot expiry (the table's snapshot management) and unreferenced file removal (the table bucket's) are set in template.yaml and run on their own")

// Maintain expires the snapshots older than retention (the current one always stays), deletes the files
// only they referenced, and deletes data files older than orphanAge that no snapshot references (a
// write that lost its batch to another version, a crash before a commit). It commits through the same
// compare-and-swap as a batch, deciding again when a batch commit lands first.
func (t *Table) Maintain(ctx context.Context, retention, orphanAge time.Duration, dryRun bool) (Maintenance, error) {
	var out Maintenance
	if t.Home.Catalog != nil {
		return out, ErrMaintainedByCatalog
	}
	for range maxLostSwaps {
		tbl, version, err := t.Current(ctx)
		if err != nil {
			return out, err
		}
		before := len(tbl.Metadata().Snapshots())
		out.Version = version
		if dryRun {
			tx := tbl.NewTransaction()
			if err := tx.ExpireSnapshots(table.WithOlderThan(retention), table.WithRetainLast(1), table.WithPostCommit(false)); err != nil {
				return out, err
			}
			staged, err := tx.StagedTable()
			if err != nil {
				return out, err
			}
			out.KeptSnapshots = len(staged.Metadata().Snapshots())
			out.ExpiredSnapshots = before - out.KeptSnapshots
			res, err := tbl.DeleteOrphanFiles(ctx, table.WithFilesOlderThan(orphanAge), table.WithDryRun(true))
			if err != nil {
				return out, err
			}
			out.RemovedFiles = res.OrphanFileLocations
			return out, nil
		}
		tx := tbl.NewTransaction()
		if err := tx.ExpireSnapshots(table.WithOlderThan(retention), table.WithRetainLast(1)); err != nil {
			return out, err
		}
		next, err := tx.Commit(ctx)
		if errors.Is(err, table.ErrCommitFailed) {
			continue
		}
		if err != nil {
			return out, err
		}
		if next.MetadataLocation() != tbl.MetadataLocation() {
			out.Version = version + 1
		}
		out.KeptSnapshots = len(next.Metadata().Snapshots())
		out.ExpiredSnapshots = before - out.KeptSnapshots
		res, err := next.DeleteOrphanFiles(ctx, table.WithFilesOlderThan(orphanAge))
		if err != nil {
			return out, err
		}
		out.RemovedFiles = res.DeletedFiles
		return out, nil
	}
	return out, fmt.Errorf("maintenance: %w", errBusy(maxLostSwaps))
}

// SnapshotOf is the kept snapshot that added v's file to the table, while the table holds that version of
// its batch: nil when it does not (the batch was replaced since, or never committed) or that snapshot has
// expired.
func (t *Table) SnapshotOf(ctx context.Context, v workflow.TableVersion) (*workflow.TableSnapshot, error) {
	tbl, version, err := t.Current(ctx)
	if errors.Is(err, ErrNoTable) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	held, err := committedVersion(tbl.Metadata(), v.Provider, v.MerchantAccount, v.Batch)
	if err != nil || held == nil || held.File != v.File {
		return nil, err
	}
	s := tbl.Metadata().SnapshotByID(snapshotOf(tbl.Metadata(), v.File))
	if s == nil {
		return nil, nil
	}
	cur := tbl.CurrentSnapshot()
	return &workflow.TableSnapshot{ID: s.SnapshotID, Sequence: s.SequenceNumber, At: time.UnixMilli(s.TimestampMs).UTC(),
		Version: version, Current: cur != nil && cur.SnapshotID == s.SnapshotID}, nil
}
