package icetable

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/apache/iceberg-go/table"

	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/workflow"
)

var _ workflow.TableSource = (*Table)(nil)

// Records is every batch the table's current snapshot holds, with what the snapshot that added its
// version records: what workflow.RebuildManifests writes the manifests from, with Footer. None when the
// table has no commit.
func (t *Table) Records(ctx context.Context) ([]workflow.TableRecord, error) {
	tbl, _, vs, err := t.currentBatches(ctx)
	if tbl == nil || err != nil {
		return nil, err
	}
	added := addedBy(tbl.Metadata())
	out := make([]workflow.TableRecord, 0, len(vs))
	for _, v := range vs {
		r := workflow.TableRecord{Version: v, Expired: true}
		if s := added[v.File]; s != nil {
			r.Expired = false
			if err := recordedCommit(s.Summary.Properties, &r.Version); err != nil {
				return nil, fmt.Errorf("snapshot %d: %w", s.SnapshotID, err)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// Footer reads the manifest in the footer of v's data file (one ranged read of its tail).
func (t *Table) Footer(ctx context.Context, v workflow.TableVersion) (string, error) {
	footer, _, err := parquetfile.Metadata(ctx, t.Home.Bucket, t.Home.Key(v.File), "", v.Bytes, workflow.FooterKey)
	return footer, err
}

// OpenFile streams the table's data file file (a TableVersion's File).
func (t *Table) OpenFile(ctx context.Context, file string) (io.ReadCloser, error) {
	return t.Home.Bucket.Open(ctx, t.Home.Key(file), "")
}

// addedBy is, by data file, the newest kept snapshot that added it (one pass over the snapshots, not one
// per batch: a table keeps tens of thousands of each). A file's name is its batch's and its content's.
func addedBy(meta table.Metadata) map[string]*table.Snapshot {
	snaps := meta.Snapshots()
	out := make(map[string]*table.Snapshot, len(snaps))
	for i := range snaps {
		if s := &snaps[i]; s.Summary != nil && s.Summary.Properties[SummaryFile] != "" {
			out[s.Summary.Properties[SummaryFile]] = s
		}
	}
	return out
}

// recordedCommit reads into v what a snapshot's summary records of the commit that made it.
func recordedCommit(p map[string]string, v *workflow.TableVersion) error {
	v.Execution, v.Source = p[SummaryExecution], p[SummarySource]
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
