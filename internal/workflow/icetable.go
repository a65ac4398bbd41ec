package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paysettle/settle/internal/store"
)

// The table of record is an Apache Iceberg table that follows the manifests. The manifest stays the
// commit's decision (the claim protocol in write.go makes it); each write then makes the Iceberg table
// hold the manifest's version of the batch, in one snapshot through the table's compare-and-swap, reading
// the manifest again after every lost swap. A writer overtaken by a replace therefore commits the
// replacement, never its own stale version, and a crash between the manifest and the table's commit
// leaves the table one version behind until the step's retry, a redrive, or `settle table sync` commits
// it (settle verify names the batch meanwhile). A reader of the table sees each batch before or after a
// replace, never both versions or neither.

// TablePrefix is the Iceberg table's key prefix in the processed bucket.
const TablePrefix = "iceberg/settlement_lines"

// TableFile is the key, under the Iceberg table, of a batch's data file whose bytes have the ETag etag:
// derived from the content, so that no key is ever written with two different contents.
func TableFile(settlementDate, merchantAccount string, batch int64, etag string) string {
	return fmt.Sprintf("data/settlement_date=%s/%s-batch-%d-%s.parquet", settlementDate, escapeKey(merchantAccount), batch, escapeKey(etag))
}

// TableKey is the processed bucket's key of a file named relative to the Iceberg table.
func TableKey(file string) string { return TablePrefix + "/" + file }

// TableVersion is one version of a batch as the Iceberg table holds it: its data file and what the
// snapshot that commits it records.
type TableVersion struct {
	Provider        string `json:"provider"`
	MerchantAccount string `json:"merchant_account"`
	Batch           int64  `json:"batch"`
	SettlementDate  string `json:"settlement_date"` // YYYY-MM-DD
	// File is the data file's key under the table: TableFile's.
	File  string `json:"file"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
	// Source is the report (s3://bucket/key) and SourceETag its content; Revision counts the batch's
	// replaces; Execution committed it.
	Source     string `json:"source"`
	SourceETag string `json:"source_etag"`
	Revision   int64  `json:"revision"`
	Execution  string `json:"execution,omitempty"`
	// Arrived is the manifest's: when the report arrived (the batch ledger counts lateness from it).
	Arrived time.Time `json:"arrived,omitzero"`
	// Replaced and History are the manifest's for a replace (the source it replaced, the batch's earlier
	// commits): the snapshot records them, so that the manifest can be written again from the table.
	Replaced *FileRef `json:"replaced,omitempty"`
	History  []Commit `json:"history,omitempty"`
}

// TableCommit is what a commit did to the Iceberg table.
type TableCommit struct {
	// Version is the table's commit number (its metadata version) holding the batch's version, Snapshot
	// the snapshot that added it (0 once expired).
	Version  int   `json:"version"`
	Snapshot int64 `json:"snapshotId"`
	// Action is "added" (the batch's first version), "replaced" (another version was in the table),
	// "unchanged" (the table held this version already) or "none" (no version to commit).
	Action string `json:"action"`
	// LostSwaps counts the commits of others that made this one read the table and decide again.
	LostSwaps int `json:"lostSwaps,omitempty"`
}

// TableHome is where the Iceberg table lives: the bucket of its files, and the catalog that names its
// current metadata.
type TableHome struct {
	Bucket store.Bucket
	// Prefix is the key of the table's root in Bucket: TablePrefix in the processed bucket, "" in a
	// bucket of the table's own (an S3 Tables table's warehouse).
	Prefix string
	// Location is the URL of the table's root, the one its metadata records and readers open.
	Location string
	// Catalog names the current metadata and swaps it; nil for the file-system convention (the
	// metadata files' own names, metadata/vN.metadata.json, each written only if absent).
	Catalog TableCatalog
}

// Key is the key in Bucket of the table's file named relative to its root (data/…, metadata/…).
func (h TableHome) Key(file string) string {
	if h.Prefix == "" {
		return file
	}
	return h.Prefix + "/" + file
}

// ProcessedTable is the home of the table in the processed bucket, under TablePrefix, at location.
func ProcessedTable(processed store.Bucket, location string) TableHome {
	return TableHome{Bucket: processed, Prefix: TablePrefix, Location: location}
}

// TablePointer names one version of the table's metadata in its catalog.
type TablePointer struct {
	// Version is the commit number: 1 for the table's first metadata, 0 when nothing was committed.
	Version int
	// Key is the metadata file's key in the table's bucket; Token is what the catalog's swap compares
	// (S3 Tables' version token), empty where the key itself is compared.
	Key, Token string
}

// TableCatalog holds the pointer to the table's current metadata: S3 Tables on a stack (cloud.S3Tables).
type TableCatalog interface {
	// Load names the current metadata (Version 0: none yet).
	Load(ctx context.Context) (TablePointer, error)
	// Swap makes metadata the table's version cur.Version+1, only if cur is still the current one: an
	// error wrapping ErrLostSwap when another commit swapped first, which leaves the table as that
	// commit made it.
	Swap(ctx context.Context, cur TablePointer, metadata []byte) (TablePointer, error)
}

// ErrLostSwap is wrapped by a TableCatalog's Swap that another commit overtook.
var ErrLostSwap = errors.New("another commit changed the Iceberg table first")

// Table is the table of record's commit (icetable.Table): it makes the table hold, for one batch, the
// version want returns, asking want again after every lost compare-and-swap.
type Table interface {
	Commit(ctx context.Context, want func(context.Context) (*TableVersion, error)) (TableCommit, error)
	// Publish puts the bytes of src's object srcKey in the table as its data file file (TableFile), unless
	// the table has that file already. When srcETag is set, bytes with another ETag are refused with
	// store.ErrPreconditionFailed, and nothing is published.
	Publish(ctx context.Context, src store.Bucket, srcKey, srcETag, file string) error
}

// ErrTableBusy is wrapped by a Table's Commit that lost the compare-and-swap too often in a row.
var ErrTableBusy = errors.New("the Iceberg table kept changing during the commit")

// publishTableFile puts the staged Parquet in the table's data folder under its content-derived key (a
// server-side copy, as the partition's publish): a key written once, with one content, whatever retries.
func (s *Steps) publishTableFile(ctx context.Context, stagingKey, merchant string, batch int64, p Partition) error {
	if s.Table == nil {
		return nil
	}
	if p.ETag == "" {
		return &TransientError{Op: "publish " + stagingKey, Err: "the published partition has no ETag"}
	}
	file := TableFile(p.SettlementDate, merchant, batch, p.ETag)
	if err := s.Table.Publish(ctx, s.Processed, stagingKey, "", file); err != nil {
		return infraError("publish the Iceberg table's "+file, err)
	}
	return nil
}

// commitTable makes the Iceberg table hold the version the batch's manifest names.
func (s *Steps) commitTable(ctx context.Context, manifestKey string) (*TableCommit, error) {
	if s.Table == nil {
		return nil, nil
	}
	out, err := s.Table.Commit(ctx, func(ctx context.Context) (*TableVersion, error) {
		m, _, err := s.readManifest(ctx, manifestKey)
		if err != nil || m == nil {
			return nil, err
		}
		return TableVersionOf(m)
	})
	if errors.Is(err, ErrTableBusy) {
		return nil, &TransientError{Op: "commit the Iceberg table", Err: err.Error()}
	}
	if err != nil {
		return nil, infraError("commit the Iceberg table for "+manifestKey, err)
	}
	return &out, nil
}

// TableVersionOf is the table's description of the batch version m committed.
func TableVersionOf(m *Manifest) (*TableVersion, error) {
	if len(m.Partitions) != 1 || m.Partitions[0].ETag == "" {
		return nil, fmt.Errorf("the manifest of %s batch %d records %d partitions without their ETags: it predates the Iceberg table", m.MerchantAccount, m.BatchNumber, len(m.Partitions))
	}
	p := m.Partitions[0]
	return &TableVersion{
		Provider: m.Provider, MerchantAccount: m.MerchantAccount, Batch: m.BatchNumber, SettlementDate: p.SettlementDate,
		File: TableFile(p.SettlementDate, m.MerchantAccount, m.BatchNumber, p.ETag),
		Rows: p.Rows, Bytes: p.Bytes, Source: m.Source.URL(), SourceETag: m.Source.ETag, Revision: m.Revision, Execution: m.Execution,
		Replaced: m.Replaced, History: m.History, Arrived: m.Arrived,
	}, nil
}

// TableSync is what SyncTable did.
type TableSync struct {
	Added, Replaced, Unchanged int
	// Skipped names the manifests whose version the table cannot take, and why.
	Skipped []string
}

// SyncTable makes the Iceberg table hold every manifest's version: what a write whose table commit did
// not happen (a crash after its manifest, a pipeline older than the table) leaves to do. A data file
// missing from the table's folder is copied from the batch's partition object while that object still
// holds the committed bytes (its ETag is the manifest's).
func SyncTable(ctx context.Context, b store.Bucket, tab Table) (TableSync, error) {
	var res TableSync
	objs, err := b.List(ctx, ManifestPrefix)
	if err != nil {
		return res, infraError("list "+ManifestPrefix, err)
	}
	for _, o := range objs {
		m, _, err := readManifestAt(ctx, b, o.Key)
		if err != nil {
			return res, err
		}
		if m == nil {
			continue
		}
		tv, err := TableVersionOf(m)
		if err != nil {
			res.Skipped = append(res.Skipped, o.Key+": "+err.Error())
			continue
		}
		p := m.Partitions[0]
		if err := tab.Publish(ctx, b, p.Key, p.ETag, tv.File); errors.Is(err, store.ErrPreconditionFailed) || errors.Is(err, store.ErrNotFound) {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %s no longer holds the bytes its commit published (etag %s): %v", o.Key, p.Key, p.ETag, err))
			continue
		} else if err != nil {
			return res, infraError("publish the Iceberg table's "+tv.File, err)
		}
		key := o.Key
		out, err := tab.Commit(ctx, func(ctx context.Context) (*TableVersion, error) {
			m, _, err := readManifestAt(ctx, b, key)
			if err != nil || m == nil {
				return nil, err
			}
			return TableVersionOf(m)
		})
		if err != nil {
			return res, fmt.Errorf("commit %s to the Iceberg table: %w", key, err)
		}
		switch out.Action {
		case "added":
			res.Added++
		case "replaced":
			res.Replaced++
		case "unchanged":
			res.Unchanged++
		}
	}
	return res, nil
}
