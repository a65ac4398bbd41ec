package icetable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/paysettle/settle/internal/workflow"
)

// batchProperty is the table property that names a batch's committed version: the table's index of
// batches, changed in the same commit as the snapshot that adds or replaces the batch's file.
func batchProperty(provider, merchant string, batch int64) string {
	return fmt.Sprintf("settle.batch/%s/%s/%d", provider, merchant, batch)
}

// Snapshot summary properties, beside Iceberg's own counts.
const (
	SummaryProvider  = "settle.provider"
	SummaryMerchant  = "settle.merchant-account"
	SummaryBatch     = "settle.batch"
	SummarySource    = "settle.source"
	SummaryETag      = "settle.source-etag"
	SummaryRevision  = "settle.revision"
	SummaryExecution = "settle.execution"
	SummaryFile      = "settle.file"
	SummaryReplaced  = "settle.replaced-file"
	// A replace's manifest also names the source it replaced and the batch's earlier commits (JSON), so
	// that the manifest can be written again from the table (workflow.ManifestFromTable).
	SummaryReplacedSource = "settle.replaced-source"
	SummaryHistory        = "settle.history"
)

// maxLostSwaps bounds how often Commit decides again after losing the compare-and-swap. Each loss means
// another commit landed: with the pipeline's concurrency (a few hundred reports a day, a handful at once)
// losing this often means something keeps committing in a loop.
const maxLostSwaps = 64

var _ workflow.Table = (*Table)(nil)

// Commit makes the table hold, for one batch, the version want returns, in one snapshot: it adds the
// version's file when the batch has none, replaces the batch's file when it has another version's, and
// changes nothing when it holds this version already. want is asked again after every lost swap, so the
// decision is always made against the table the commit builds on. want returning nil commits nothing.
func (t *Table) Commit(ctx context.Context, want func(context.Context) (*workflow.TableVersion, error)) (workflow.TableCommit, error) {
	var out workflow.TableCommit
	for ; out.LostSwaps < maxLostSwaps; out.LostSwaps++ {
		tbl, version, err := t.currentOrNew(ctx)
		if err != nil {
			return out, err
		}
		w, err := want(ctx)
		if err != nil || w == nil {
			out.Action = "none"
			return out, err
		}
		prev, err := committedVersion(tbl.Metadata(), w.Provider, w.MerchantAccount, w.Batch)
		if err != nil {
			return out, err
		}
		if prev != nil && prev.File == w.File {
			out.Action, out.Version = "unchanged", version
			out.Snapshot = snapshotOf(tbl.Metadata(), w.File)
			return out, nil
		}
		next, err := t.apply(ctx, tbl, prev, w)
		if errors.Is(err, table.ErrCommitFailed) {
			if err := t.backoff(ctx, out.LostSwaps); err != nil {
				return out, err
			}
			continue
		}
		if err != nil {
			return out, err
		}
		out.Action, out.Version = "added", version+1
		if prev != nil {
			out.Action = "replaced"
		}
		if s := next.CurrentSnapshot(); s != nil {
			out.Snapshot = s.SnapshotID
		}
		return out, nil
	}
	return out, errBusy(out.LostSwaps)
}

// apply commits w over prev (nil for none) on tbl, in one snapshot.
func (t *Table) apply(ctx context.Context, tbl *table.Table, prev, w *workflow.TableVersion) (*table.Table, error) {
	spec := tbl.Metadata().PartitionSpec()
	add, err := dataFile(spec, tbl.Location(), w)
	if err != nil {
		return nil, err
	}
	summary := iceberg.Properties{
		SummaryProvider:  w.Provider,
		SummaryMerchant:  w.MerchantAccount,
		SummaryBatch:     strconv.FormatInt(w.Batch, 10),
		SummarySource:    w.Source,
		SummaryETag:      w.SourceETag,
		SummaryRevision:  strconv.FormatInt(w.Revision, 10),
		SummaryFile:      w.File,
		SummaryExecution: w.Execution,
	}
	if w.Replaced != nil {
		b, err := json.Marshal(w.Replaced)
		if err != nil {
			return nil, err
		}
		summary[SummaryReplacedSource] = string(b)
	}
	if len(w.History) > 0 {
		b, err := json.Marshal(w.History)
		if err != nil {
			return nil, err
		}
		summary[SummaryHistory] = string(b)
	}
	tx := tbl.NewTransaction()
	if err := tx.SetProperties(iceberg.Properties{batchProperty(w.Provider, w.MerchantAccount, w.Batch): indexValue(w)}); err != nil {
		return nil, err
	}
	if prev == nil {
		err = tx.AddDataFiles(ctx, []iceberg.DataFile{add}, summary, table.WithoutDuplicateCheck())
	} else {
		var old iceberg.DataFile
		if old, err = dataFile(spec, tbl.Location(), prev); err == nil {
			summary[SummaryReplaced] = prev.File
			err = tx.ReplaceDataFilesWithDataFiles(ctx, []iceberg.DataFile{old}, []iceberg.DataFile{add}, summary)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("commit %s batch %d: %w", w.MerchantAccount, w.Batch, err)
	}
	return tx.Commit(ctx)
}

// dataFile describes v's Parquet file to the table.
func dataFile(spec iceberg.PartitionSpec, location string, v *workflow.TableVersion) (iceberg.DataFile, error) {
	day, err := time.Parse(time.DateOnly, v.SettlementDate)
	if err != nil {
		return nil, fmt.Errorf("settlement date %q: %w", v.SettlementDate, err)
	}
	field := spec.Field(0)
	b, err := iceberg.NewDataFileBuilder(spec, iceberg.EntryContentData, location+"/"+v.File, iceberg.ParquetFile,
		map[int]any{field.FieldID: iceberg.Date(day.Unix() / 86400)}, nil, nil, v.Rows, v.Bytes)
	if err != nil {
		return nil, err
	}
	return b.Build(), nil
}

// indexValue is a batch's entry in the table's index of batches: what a replace of it, the consistency
// check and a manifest written again from the table need, compactly (the metadata carries one per batch
// ever committed): rows, bytes, revision, the report's arrival (Unix nanoseconds, "-" for none), the data
// file and the report's ETag. The snapshot that added it records the rest.
func indexValue(v *workflow.TableVersion) string {
	arrived := "-"
	if !v.Arrived.IsZero() {
		arrived = strconv.FormatInt(v.Arrived.UnixNano(), 10)
	}
	return fmt.Sprintf("%d %d %d %s %s %s", v.Rows, v.Bytes, v.Revision, arrived, v.File, v.SourceETag)
}

// parseIndex reads the index entry value of key (settle.batch/provider/merchant/batch), also in the form
// written before it recorded the arrival (rows bytes revision file etag).
func parseIndex(key, value string) (*workflow.TableVersion, error) {
	// provider/merchant/batch: the merchant account is what lies between the first and the last slash.
	rest := strings.TrimPrefix(key, "settle.batch/")
	provider, rest, ok1 := strings.Cut(rest, "/")
	i := strings.LastIndexByte(rest, '/')
	f := strings.SplitN(value, " ", 6)
	arrived := "-"
	switch {
	case len(f) >= 5 && strings.HasPrefix(f[3], "data/"):
		f = strings.SplitN(value, " ", 5)
	case len(f) == 6:
		arrived, f = f[3], append(f[:3:3], f[4], f[5])
	default:
		f = nil
	}
	if !ok1 || i <= 0 || len(f) != 5 {
		return nil, fmt.Errorf("the table's index entry %s = %q is unreadable", key, value)
	}
	v := &workflow.TableVersion{Provider: provider, MerchantAccount: rest[:i], File: f[3], SourceETag: f[4]}
	var err1, err2, err3, err4, err5 error
	v.Batch, err1 = strconv.ParseInt(rest[i+1:], 10, 64)
	v.Rows, err2 = strconv.ParseInt(f[0], 10, 64)
	v.Bytes, err3 = strconv.ParseInt(f[1], 10, 64)
	v.Revision, err4 = strconv.ParseInt(f[2], 10, 64)
	if arrived != "-" {
		var n int64
		n, err5 = strconv.ParseInt(arrived, 10, 64)
		v.Arrived = time.Unix(0, n).UTC()
	}
	date, ok := strings.CutPrefix(v.File, "data/settlement_date=")
	if i := strings.IndexByte(date, '/'); ok && i > 0 {
		v.SettlementDate = date[:i]
	}
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil || v.SettlementDate == "" {
		return nil, fmt.Errorf("the table's index entry %s = %q is unreadable", key, value)
	}
	return v, nil
}

// committedVersion is the batch's version in meta, nil for none.
func committedVersion(meta table.Metadata, provider, merchant string, batch int64) (*workflow.TableVersion, error) {
	key := batchProperty(provider, merchant, batch)
	raw, ok := meta.Properties()[key]
	if !ok {
		return nil, nil
	}
	return parseIndex(key, raw)
}

// Batches is every batch version the table holds at meta's current snapshot, from its index.
func Batches(meta table.Metadata) ([]workflow.TableVersion, error) {
	var out []workflow.TableVersion
	for k, raw := range meta.Properties() {
		if !strings.HasPrefix(k, "settle.batch/") {
			continue
		}
		v, err := parseIndex(k, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// snapshotOf is the snapshot that added file, 0 when it has expired.
func snapshotOf(meta table.Metadata, file string) int64 {
	snaps := meta.Snapshots()
	for i := len(snaps) - 1; i >= 0; i-- {
		if s := snaps[i]; s.Summary != nil && s.Summary.Properties[SummaryFile] == file {
			return s.SnapshotID
		}
	}
	return 0
}

// Files is the data files of tbl's current snapshot, as keys relative to the table (a Version's File),
// read from its manifests.
func Files(ctx context.Context, tbl *table.Table) ([]string, error) {
	var out []string
	err := eachDataFile(ctx, tbl, tbl.CurrentSnapshot(), func(df iceberg.DataFile) {
		out = append(out, relative(tbl.Location(), df.FilePath()))
	})
	slices.Sort(out)
	return out, err
}

// eachDataFile calls fn with every data file snapshot s reads (none for a nil s), from its manifests.
func eachDataFile(ctx context.Context, tbl *table.Table, s *table.Snapshot, fn func(iceberg.DataFile)) error {
	if s == nil {
		return nil
	}
	fio, err := tbl.FS(ctx)
	if err != nil {
		return err
	}
	mans, err := s.Manifests(fio)
	if err != nil {
		return err
	}
	for _, m := range mans {
		for e, err := range m.Entries(fio, true) {
			if err != nil {
				return err
			}
			fn(e.DataFile())
		}
	}
	return nil
}

// relative is a file's name under the table whose location is loc.
func relative(loc, path string) string {
	if rel, ok := strings.CutPrefix(path, loc+"/"); ok {
		return rel
	}
	if i := strings.Index(path, "/"+TablePrefix+"/"); i >= 0 {
		return path[i+len(TablePrefix)+2:]
	}
	return path
}

// currentBatches is the table as of its latest commit, its version and the batch versions its index
// holds; a nil table when nothing was committed.
func (t *Table) currentBatches(ctx context.Context) (*table.Table, int, []workflow.TableVersion, error) {
	tbl, version, err := t.Current(ctx)
	if errors.Is(err, ErrNoTable) {
		return nil, 0, nil, nil
	}
	if err != nil {
		return nil, 0, nil, err
	}
	batches, err := Batches(tbl.Metadata())
	if err != nil {
		return nil, 0, nil, err
	}
	return tbl, version, batches, nil
}

// State is the table as of its latest commit for the consistency check; nil when there is none.
func (t *Table) State(ctx context.Context) (*workflow.TableState, error) {
	tbl, version, batches, err := t.currentBatches(ctx)
	if tbl == nil || err != nil {
		return nil, err
	}
	files, err := Files(ctx, tbl)
	if err != nil {
		return nil, err
	}
	return &workflow.TableState{Version: version, Batches: batches, Files: files}, nil
}

func errBusy(lost int) error {
	return fmt.Errorf("%w (%d other commits landed first)", workflow.ErrTableBusy, lost)
}

// backoff waits a random time before a committer that lost the swap lost+1 times reads the table again:
// committers that lost together do not all race again at once. Up to 5 ms after the first loss, doubling
// to at most 320 ms.
func (t *Table) backoff(ctx context.Context, lost int) error {
	d := rand.N(5 * time.Millisecond << min(lost, 6))
	if t.Wait != nil {
		return t.Wait(ctx, d)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
