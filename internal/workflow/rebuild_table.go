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
	"time"

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
	// files (before their manifests, when those were missing too).
	Republished []string `json:"republished"`
	// Differ are the manifests that commit another version than the table holds (or that cannot be read):
	// left as they are. Skipped are the batches whose manifest or partition object the table cannot give.
	Differ  []RebuildIssue `json:"differ"`
	Skipped []RebuildIssue `json:"skipped"`
	// Expired counts the manifests written without their execution and earlier commits: the snapshot that
	// added their version has expired.
	Expired int `json:"expired"`
}

// RebuildIssue is a batch that RebuildManifests left as it was, and why.
type RebuildIssue struct {
	// Key is the batch's manifest; Detail says what was found; Remedy what to do, with Command (a
	// settle command line without "settle", or "") doing it.
	Key     string `json:"key"`
	Detail  string `json:"detail"`
	Remedy  string `json:"remedy"`
	Command string `json:"command,omitempty"`
}

// conditionalCreator is a bucket whose streaming upload can be conditional (store.Dir, s3store.Bucket).
type conditionalCreator interface {
	CreateIf(ctx context.Context, key string, pre store.Precondition) (store.Upload, error)
}

// RebuildManifests writes every manifest the processed bucket lacks from the Iceberg table, which holds
// all a manifest says; a missing partition object is copied back from the table's data file first, so a
// manifest never names an absent object (also for a manifest that is there and holds the table's
// version). A manifest that exists is never changed: one that differs from the table is reported. A
// batch with a claim (a commit in progress, or one that died) is left to its commit. The ledgers follow
// from the manifests (RebuildLedgers). dry changes nothing.
func RebuildManifests(ctx context.Context, b store.Bucket, src TableSource, dry bool) (ManifestRebuild, error) {
	res := ManifestRebuild{Written: []string{}, Republished: []string{}, Differ: []RebuildIssue{}, Skipped: []RebuildIssue{}}
	recs, err := src.Records(ctx)
	if err != nil {
		return res, fmt.Errorf("read the Iceberg table: %w", err)
	}
	slices.SortFunc(recs, func(a, b TableRecord) int {
		return strings.Compare(ManifestKey(a.Version.MerchantAccount, a.Version.Batch), ManifestKey(b.Version.MerchantAccount, b.Version.Batch))
	})
	res.Batches = len(recs)
	for _, r := range recs {
		v := r.Version
		key := ManifestKey(v.MerchantAccount, v.Batch)
		old, _, err := b.Get(ctx, key)
		if err == nil {
			var o Manifest
			if err := json.Unmarshal(old, &o); err != nil {
				res.Differ = append(res.Differ, RebuildIssue{Key: key, Detail: "the manifest is unreadable: " + err.Error(),
					Remedy: "restore it (on a stack the processed bucket keeps its earlier versions) or delete it, then rebuild again"})
				continue
			}
			if why := commitDiffers(&o, r); why != "" {
				res.Differ = append(res.Differ, RebuildIssue{Key: key, Detail: why,
					Remedy: "the check says which of the two to trust", Command: "verify"})
				continue
			}
			res.Same++
			// The manifest holds the table's version: its partition object can come back from the table.
			if len(o.Partitions) == 1 {
				if _, err := republish(ctx, b, src, &res, key, v, o.Partitions[0], dry); err != nil {
					return res, err
				}
			}
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return res, infraError("read "+key, err)
		}
		if claimed, err := claimOf(ctx, b, v); err != nil {
			return res, err
		} else if claimed != "" {
			res.Skipped = append(res.Skipped, claimIssue(key, claimed))
			continue
		}
		r.Footer, err = src.Footer(ctx, v)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			r.Unreadable = fmt.Sprintf("the table's data file %s is missing", v.File)
		case err != nil:
			r.Unreadable = fmt.Sprintf("the footer of the table's data file %s is unreadable: %v", v.File, err)
		}
		m, err := ManifestFromTable(r)
		if err != nil {
			is := RebuildIssue{Key: key, Detail: err.Error(), Remedy: "process the batch's report again: with no manifest it is a first commit, which writes the data file and the manifest again"}
			if v.Source != "" {
				is.Command = "reprocess " + v.Source
			}
			res.Skipped = append(res.Skipped, is)
			continue
		}
		body, err := json.Marshal(m)
		if err != nil {
			return res, err
		}
		body = append(body, '\n')
		if ok, err := republish(ctx, b, src, &res, key, v, m.Partitions[0], dry); err != nil {
			return res, err
		} else if !ok { // the partition object cannot come back: no manifest may name it
			continue
		}
		if !dry {
			_, err := b.PutIf(ctx, key, body, store.Precondition{IfAbsent: true})
			if errors.Is(err, store.ErrPreconditionFailed) {
				res.Differ = append(res.Differ, RebuildIssue{Key: key, Detail: "a commit wrote the manifest while the rebuild ran",
					Remedy: "check the batch again", Command: "verify"})
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

// claimIssue is a batch left to the commit that claims it.
func claimIssue(key, claimed string) RebuildIssue {
	return RebuildIssue{Key: key, Detail: claimed,
		Remedy: "let the commit end (or redrive it if it died), then check and rebuild again", Command: "verify"}
}

// claimOf says which commit holds a claim on v's batch ("" for none).
func claimOf(ctx context.Context, b store.Bucket, v TableVersion) (string, error) {
	ck := ClaimKey(v.MerchantAccount, v.Batch)
	data, _, err := b.Get(ctx, ck)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", infraError("read "+ck, err)
	}
	var c Claim
	if err := json.Unmarshal(data, &c); err != nil {
		return "a claim on the batch is unreadable: " + err.Error(), nil
	}
	return fmt.Sprintf("execution %s holds a claim on the batch since %s: a commit is in progress or died", c.Execution, c.ClaimedAt.UTC().Format(time.RFC3339)), nil
}

// commitDiffers says how the manifest o differs from the table's record r of its batch ("" when it
// commits the version the table holds, by the same commit as far as the table's kept snapshots tell).
func commitDiffers(o *Manifest, r TableRecord) string {
	v := r.Version
	want, err := TableVersionOf(o)
	switch {
	case err != nil:
		return err.Error()
	case want.File != v.File || want.SourceETag != v.SourceETag:
		return fmt.Sprintf("the manifest commits the report with etag %s (revision %d), the Iceberg table holds etag %s (revision %d)",
			o.Source.ETag, o.Revision, v.SourceETag, v.Revision)
	case want.Revision != v.Revision:
		// The same bytes committed again (a replace of the file by itself, a first commit after the
		// manifest was lost), which leaves the table as the commit that added them made it.
		return ""
	case !r.Expired && (want.Execution != v.Execution || !reflect.DeepEqual(want.Replaced, v.Replaced) || !slices.Equal(want.History, v.History)) ||
		!v.Arrived.IsZero() && !want.Arrived.Equal(v.Arrived):
		return fmt.Sprintf("the manifest and the Iceberg table hold the report with etag %s (revision %d), but their records of its commit differ", o.Source.ETag, o.Revision)
	}
	return ""
}

// republish copies the table's data file of v back to the partition object p of key's batch when p is
// missing (recording it in res). It reports whether p holds, or in a dry run would hold, the table's
// bytes; when not, res.Skipped says why: the object holds other bytes, the table's file is gone, or a
// commit claims the batch. The copy is created only while the key is absent (S3 and the folder store
// check it when the upload commits), and the claim is read again after it.
func republish(ctx context.Context, b store.Bucket, src TableSource, res *ManifestRebuild, key string, v TableVersion, p Partition, dry bool) (bool, error) {
	skip := func(why string) (bool, error) {
		is := RebuildIssue{Key: key, Detail: why, Remedy: "replace the batch's committed file by itself: it publishes its Parquet again"}
		if v.Source != "" {
			is.Command = "reprocess " + v.Source + " --replace"
		}
		res.Skipped = append(res.Skipped, is)
		return false, nil
	}
	claimed := func() (bool, error) {
		c, err := claimOf(ctx, b, v)
		if c != "" {
			res.Skipped = append(res.Skipped, claimIssue(key, c))
		}
		return c != "" || err != nil, err
	}
	obj, err := b.Head(ctx, p.Key)
	if err == nil {
		if obj.ETag != p.ETag {
			return skip(fmt.Sprintf("%s holds other bytes (etag %s) than the table's version (etag %s)", p.Key, obj.ETag, p.ETag))
		}
		return true, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, infraError("head "+p.Key, err)
	}
	if c, err := claimed(); c {
		return false, err
	}
	if etag, err := tableFileETag(v); err != nil || etag != p.ETag {
		return skip(fmt.Sprintf("%s is missing, and the table's data file %s holds other bytes than it did", p.Key, v.File))
	}
	if dry {
		res.Republished = append(res.Republished, p.Key)
		return true, nil
	}
	rc, err := src.OpenFile(ctx, v.File)
	if errors.Is(err, store.ErrNotFound) {
		return skip(fmt.Sprintf("%s is missing, and so is the table's data file %s", p.Key, v.File))
	}
	if err != nil {
		return false, fmt.Errorf("read the Iceberg table's %s: %w", v.File, err)
	}
	defer rc.Close()
	var up store.Upload
	if cc, ok := b.(conditionalCreator); ok {
		up, err = cc.CreateIf(ctx, p.Key, store.Precondition{IfAbsent: true})
	} else {
		up, err = b.Create(ctx, p.Key)
	}
	if err != nil {
		return false, infraError("create "+p.Key, err)
	}
	defer up.Abort()
	if _, err := io.Copy(up, rc); err != nil {
		return false, infraError("copy "+v.File+" to "+p.Key, err)
	}
	got, err := up.Commit()
	if errors.Is(err, store.ErrPreconditionFailed) {
		return skip(fmt.Sprintf("a commit wrote %s while the rebuild copied it", p.Key))
	}
	if err != nil {
		return false, infraError("write "+p.Key, err)
	}
	res.Republished = append(res.Republished, p.Key)
	if c, err := claimed(); c { // a commit began during the copy
		return false, err
	}
	if got.ETag != p.ETag {
		return skip(fmt.Sprintf("%s was copied back from the table with etag %s, not the etag %s its commit published (a multipart upload)", p.Key, got.ETag, p.ETag))
	}
	return true, nil
}
