package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/paysettle/settle/internal/store"
)

// The manifests follow from the Iceberg table: everything a manifest says is in the table, so that the
// processed bucket's commit markers (and the ledgers, which follow from them) can be written again from
// the table alone. The data file's footer carries the part its report decides (FooterKey), the table's
// index of batches the version (file, rows, bytes, revision, arrival), and the snapshot that added it
// what the commit decided (execution, and for a replace the source it replaced and the batch's earlier
// commits).

// TableRecord is one batch as the Iceberg table's current snapshot holds it.
type TableRecord struct {
	// Version is the batch's entry in the table's index, with what the snapshot that added it records
	// (Execution, Replaced, History): empty once that snapshot has expired (Expired).
	Version TableVersion
	Expired bool
	// Footer is the manifest the data file's footer carries (FooterKey, read by TableSource.Footer), ""
	// for a file staged before footers carried one; Unreadable says why the footer could not be read.
	Footer, Unreadable string
}

// TableSource is the Iceberg table read back for RebuildManifests (icetable.Table).
type TableSource interface {
	// Records is every batch the table's current snapshot holds, without their footers.
	Records(ctx context.Context) ([]TableRecord, error)
	// Footer reads the manifest in the footer of v's data file (FooterKey): "" when it has none.
	Footer(ctx context.Context, v TableVersion) (string, error)
	// OpenFile streams one of the table's data files (a TableVersion's File).
	OpenFile(ctx context.Context, file string) (io.ReadCloser, error)
}

// ManifestFromTable is the manifest of the commit the table's record of a batch holds: byte for byte the
// one the write step wrote, unless the snapshot that added the version has expired (no execution, no
// earlier commits) or a replace by the same bytes left the table unchanged (the table names the commit
// that added those bytes).
func ManifestFromTable(r TableRecord) (*Manifest, error) {
	v := r.Version
	if r.Unreadable != "" {
		return nil, errors.New(r.Unreadable)
	}
	if r.Footer == "" {
		return nil, fmt.Errorf("%s carries no manifest in its footer: it was staged before data files did", v.File)
	}
	var m Manifest
	if err := json.Unmarshal([]byte(r.Footer), &m); err != nil {
		return nil, fmt.Errorf("the manifest in %s's footer is unreadable: %w", v.File, err)
	}
	if m.Provider != v.Provider || m.MerchantAccount != v.MerchantAccount || m.BatchNumber != v.Batch || m.Source.ETag != v.SourceETag || m.SettlementDate != v.SettlementDate {
		return nil, fmt.Errorf("%s's footer names %s batch %d of %s from the report with etag %s, but the table's index holds it as %s batch %d of %s from etag %s",
			v.File, m.MerchantAccount, m.BatchNumber, m.SettlementDate, m.Source.ETag, v.MerchantAccount, v.Batch, v.SettlementDate, v.SourceETag)
	}
	if m.Counts.RowsWritten != v.Rows {
		return nil, fmt.Errorf("%s's footer counts %d rows written, the table's index %d", v.File, m.Counts.RowsWritten, v.Rows)
	}
	etag, err := tableFileETag(v)
	if err != nil {
		return nil, err
	}
	m.Execution = v.Execution
	m.Partitions = []Partition{{SettlementDate: v.SettlementDate, Rows: v.Rows, Key: PartitionKey(v.SettlementDate, v.MerchantAccount, v.Batch), Bytes: v.Bytes, ETag: etag}}
	m.Revision, m.Replaced, m.History, m.Arrived = v.Revision, v.Replaced, v.History, v.Arrived
	return &m, nil
}

// tableFileETag is the ETag of the published partition object that v's data file copies, which
// TableFile wrote into its name.
func tableFileETag(v TableVersion) (string, error) {
	prefix := strings.TrimSuffix(TableFile(v.SettlementDate, v.MerchantAccount, v.Batch, ""), ".parquet")
	esc, ok := strings.CutPrefix(v.File, prefix)
	esc, ok2 := strings.CutSuffix(esc, ".parquet")
	etag, err := url.PathUnescape(esc)
	if !ok || !ok2 || esc == "" || err != nil {
		return "", fmt.Errorf("the table's data file %s is not named as %s batch %d's", v.File, v.MerchantAccount, v.Batch)
	}
	return etag, nil
}

// ManifestRebuild is what RebuildManifests did (or, in a dry run, would do).
type ManifestRebuild struct {
	// Batches is how many batches the table holds.
	Batches int `json:"batches"`
	// Written are the manifests that were missing and were written from the table; Same the manifests
	// already holding what the table holds.
	Written []string `json:"written"`
	Same    int      `json:"same"`
	// Republished are the partition objects that were missing and were copied back from the table's data
	// files, before their manifests.
	Republished []string `json:"republished"`
	// Differ are the manifests that commit another version than the table holds, and why: left as they
	// are (settle verify tells which of the two to trust).
	Differ []string `json:"differ"`
	// Skipped are the batches whose manifest the table cannot give, and why.
	Skipped []string `json:"skipped"`
	// Expired counts the manifests written without their execution and earlier commits: the snapshot that
	// added their version has expired.
	Expired int `json:"expired"`
}

// RebuildManifests writes every manifest the processed bucket lacks from the Iceberg table, which holds
// all a manifest says; a missing partition object is copied back from the table's data file first, so a
// manifest never names an absent object. A manifest that exists is never changed: one that differs from
// the table is reported. The ledgers follow from the manifests (RebuildLedgers). dry changes nothing.
func RebuildManifests(ctx context.Context, b store.Bucket, src TableSource, dry bool) (ManifestRebuild, error) {
	res := ManifestRebuild{Written: []string{}, Republished: []string{}, Differ: []string{}, Skipped: []string{}}
	recs, err := src.Records(ctx)
	if err != nil {
		return res, fmt.Errorf("read the Iceberg table: %w", err)
	}
	slices.SortFunc(recs, func(a, b TableRecord) int {
		return strings.Compare(ManifestKey(a.Version.MerchantAccount, a.Version.Batch), ManifestKey(b.Version.MerchantAccount, b.Version.Batch))
	})
	res.Batches = len(recs)
	for _, r := range recs {
		key := ManifestKey(r.Version.MerchantAccount, r.Version.Batch)
		old, _, err := b.Get(ctx, key)
		if err == nil {
			if why := versionDiffers(old, r); why != "" {
				res.Differ = append(res.Differ, key+": "+why)
			} else {
				res.Same++
			}
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return res, infraError("read "+key, err)
		}
		r.Footer, err = src.Footer(ctx, r.Version)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err != nil {
			r.Unreadable = fmt.Sprintf("the footer of the table's %s is unreadable: %v", r.Version.File, err)
		}
		m, err := ManifestFromTable(r)
		if err != nil {
			res.Skipped = append(res.Skipped, key+": "+err.Error())
			continue
		}
		body, err := json.Marshal(m)
		if err != nil {
			return res, err
		}
		body = append(body, '\n')
		p := m.Partitions[0]
		republished, why, err := republish(ctx, b, src, r.Version.File, p, dry)
		if err != nil {
			return res, err
		}
		if why != "" {
			res.Skipped = append(res.Skipped, key+": "+why)
			continue
		}
		if republished {
			res.Republished = append(res.Republished, p.Key)
		}
		if !dry {
			_, err := b.PutIf(ctx, key, body, store.Precondition{IfAbsent: true})
			if errors.Is(err, store.ErrPreconditionFailed) {
				res.Differ = append(res.Differ, key+": written by a commit while the rebuild ran")
				continue
			}
			if err != nil {
				return res, infraError("write "+key, err)
			}
		}
		res.Written = append(res.Written, key)
		if r.Expired {
			res.Expired++
		}
	}
	return res, nil
}

// versionDiffers says how the manifest old differs from the table's record r of its batch ("" when it
// commits the version the table holds, by the same commit as far as the table's kept snapshots tell).
func versionDiffers(old []byte, r TableRecord) string {
	var o Manifest
	if err := json.Unmarshal(old, &o); err != nil {
		return "the manifest is unreadable: " + err.Error()
	}
	v := r.Version
	want, err := TableVersionOf(&o)
	switch {
	case err != nil:
		return err.Error()
	case want.File == v.File && want.SourceETag == v.SourceETag && want.Revision > v.Revision:
		return "" // a replace by the same bytes, which leaves the table as the commit that added them made it
	case want.File != v.File || want.Revision != v.Revision || want.SourceETag != v.SourceETag:
		return fmt.Sprintf("the manifest commits the report with etag %s (revision %d), the Iceberg table holds etag %s (revision %d): run settle verify",
			o.Source.ETag, o.Revision, v.SourceETag, v.Revision)
	case !r.Expired && (want.Execution != v.Execution || !reflect.DeepEqual(want.Replaced, v.Replaced) || !slices.Equal(want.History, v.History)) ||
		!v.Arrived.IsZero() && !want.Arrived.Equal(v.Arrived):
		return fmt.Sprintf("the manifest and the Iceberg table hold the report with etag %s (revision %d), but their records of its commit differ", o.Source.ETag, o.Revision)
	}
	return ""
}

// republish copies the table's data file back to the partition object p when it is missing (reporting
// true), and says why not when the object holds other bytes or the copy does not match.
func republish(ctx context.Context, b store.Bucket, src TableSource, file string, p Partition, dry bool) (bool, string, error) {
	obj, err := b.Head(ctx, p.Key)
	if err == nil {
		if obj.ETag != p.ETag {
			return false, fmt.Sprintf("%s holds other bytes (etag %s) than the table's version (etag %s): reprocess the file with --replace", p.Key, obj.ETag, p.ETag), nil
		}
		return false, "", nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, "", infraError("head "+p.Key, err)
	}
	if dry {
		return true, "", nil
	}
	rc, err := src.OpenFile(ctx, file)
	if err != nil {
		return false, "", fmt.Errorf("read the Iceberg table's %s: %w", file, err)
	}
	defer rc.Close()
	up, err := b.Create(ctx, p.Key)
	if err != nil {
		return false, "", infraError("create "+p.Key, err)
	}
	defer up.Abort()
	if _, err := io.Copy(up, rc); err != nil {
		return false, "", infraError("copy "+file+" to "+p.Key, err)
	}
	got, err := up.Commit()
	if err != nil {
		return false, "", infraError("write "+p.Key, err)
	}
	if got.ETag != p.ETag {
		return true, fmt.Sprintf("%s was copied back from the table with etag %s, not the etag %s its commit published (a multipart upload): reprocess the file with --replace", p.Key, got.ETag, p.ETag), nil
	}
	return true, "", nil
}
