package icetable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/iceberg-go/table"

	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/workflow"
)

var _ workflow.TableSource = (*Table)(nil)

// Records is every batch the table's current snapshot holds, with what the snapshot that added its
// version records and the manifest its data file's footer carries (one ranged read of each footer):
// what workflow.RebuildManifests writes the manifests from. None when the table has no commit.
func (t *Table) Records(ctx context.Context) ([]workflow.TableRecord, error) {
	tbl, _, err := t.Current(ctx)
	if errors.Is(err, ErrNoTable) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	vs, err := Batches(tbl.Metadata())
	if err != nil {
		return nil, err
	}
	out := make([]workflow.TableRecord, 0, len(vs))
	for _, v := range vs {
		r := workflow.TableRecord{Version: v, Expired: true}
		if s := addedBy(tbl.Metadata(), v); s != nil {
			r.Expired = false
			if err := recordedCommit(s.Summary.Properties, &r.Version); err != nil {
				return nil, fmt.Errorf("snapshot %d: %w", s.SnapshotID, err)
			}
		}
		footer, _, err := parquetfile.Metadata(ctx, t.Home.Bucket, t.Home.Key(v.File), "", v.Bytes, workflow.FooterKey)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err != nil {
			r.Unreadable = fmt.Sprintf("the footer of the table's %s is unreadable: %v", v.File, err)
		}
		r.Footer = footer
		out = append(out, r)
	}
	return out, nil
}

// OpenFile streams the table's data file file (a TableVersion's File).
func (t *Table) OpenFile(ctx context.Context, file string) (io.ReadCloser, error) {
	return t.Home.Bucket.Open(ctx, t.Home.Key(file), "")
}

// addedBy is the newest snapshot that added v's file to v's batch, nil when it has expired.
func addedBy(meta table.Metadata, v workflow.TableVersion) *table.Snapshot {
	snaps := meta.Snapshots()
	for i := len(snaps) - 1; i >= 0; i-- {
		s := &snaps[i]
		if s.Summary == nil {
			continue
		}
		p := s.Summary.Properties
		if p[SummaryFile] == v.File && p[SummaryMerchant] == v.MerchantAccount && p[SummaryBatch] == strconv.FormatInt(v.Batch, 10) {
			return s
		}
	}
	return nil
}

// recordedCommit reads into v what a snapshot's summary records of the commit that made it.
func recordedCommit(p map[string]string, v *workflow.TableVersion) error {
	v.Execution = p[SummaryExecution]
	if raw := p[SummaryReplacedSource]; raw != "" {
		v.Replaced = new(workflow.FileRef)
		if err := json.Unmarshal([]byte(raw), v.Replaced); err != nil {
			return fmt.Errorf("%s is unreadable: %w", SummaryReplacedSource, err)
		}
	}
	if raw := p[SummaryHistory]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &v.History); err != nil {
			return fmt.Errorf("%s is unreadable: %w", SummaryHistory, err)
		}
	}
	return nil
}
