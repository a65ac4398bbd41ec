package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/store"
)

// ManifestVersion is the manifest format's version.
const ManifestVersion = 1

// Manifest is the commit marker of a batch, written last by the write step: while it is absent the batch
// is not committed, whatever objects exist. It is one line of JSON, so that Athena's JSON SerDe reads
// the manifests as a table (settlement_batches). Readers that need exactly-committed data list partitions
// from manifests; Athena reads the partitions directly, which hold only committed or converging objects.
type Manifest struct {
	Version         int                  `json:"version"`
	Provider        string               `json:"provider"`
	MerchantAccount string               `json:"merchant_account"`
	BatchNumber     int64                `json:"batch_number"`
	CompanyAccount  string               `json:"company_account"`
	SettlementDate  string               `json:"settlement_date"`
	SettlementRule  string               `json:"settlement_date_rule"`
	Source          FileRef              `json:"source"`
	Execution       string               `json:"execution"`
	Counts          ManifestCounts       `json:"counts"`
	Partitions      []Partition          `json:"partitions"`
	Currencies      []settlement.Totals  `json:"currencies"`
	Types           map[string]int64     `json:"types"`
	Warnings        []settlement.Warning `json:"warnings,omitempty"`
	RejectsKey      string               `json:"rejects_key,omitempty"`
	ReportKey       string               `json:"report_key"`
	Replaced        *FileRef             `json:"replaced,omitempty"`
	Policy          settlement.Policy    `json:"policy"`

	// Arrived is when the report arrived: the raw object's Last-Modified, never later than the commit.
	// The batch ledger's expectations (grace periods, cadence) count from it.
	Arrived time.Time `json:"arrived,omitzero"`
	// Revision counts the batch's replaces: 0 for its first commit, the replaced manifest's plus one. The
	// ledger keeps the highest, so a writer overtaken by a replace cannot put back what it replaced.
	Revision int64 `json:"revision,omitempty"`
	// History is the batch's earlier commits, oldest first: which execution committed which content. A
	// late execution of one of them (a redrive of a Write whose commit was replaced since, a restart of
	// it) has nothing left to do.
	History []Commit `json:"history,omitempty"`
}

// Commit is one earlier commit of a batch: the execution that made it and the content it committed.
type Commit struct {
	Execution string `json:"execution"`
	ETag      string `json:"etag"`
}

// replacedCommit is the earlier commit (nil: none) that leaves in nothing to do now that m is committed:
// for a plain execution, an earlier commit of its content; for a replace, one made by its own execution
// or a restart of it (the same name without its -rN suffixes).
func (m *Manifest) replacedCommit(in StepInput) *Commit {
	for i := range m.History {
		h := &m.History[i]
		switch {
		case !in.Replace && h.ETag == in.File.ETag:
			return h
		case in.Replace && RestartBase(h.Execution) == RestartBase(in.Execution) && h.ETag == in.File.ETag:
			return h
		}
	}
	if len(m.History) == 0 && !in.Replace && m.Replaced != nil && m.Replaced.ETag == in.File.ETag {
		return &Commit{ETag: m.Replaced.ETag} // a manifest written before the history: the commit it replaced
	}
	return nil
}

// FooterKey is the key, in the footer metadata of the Parquet file the transform step stages (and so of
// the Iceberg table's data file, its copy), of the batch's manifest as far as its report decides it
// (Steps.reportManifest, as JSON): with what the table's snapshots record, the table holds everything a
// manifest says, and ManifestFromTable writes it again.
const FooterKey = "settle.manifest"

// ManifestCounts prove that every line is accounted for: lines = header + blank + the lines of the data
// rows, and data_rows = rows_written + rows_rejected.
type ManifestCounts struct {
	Lines        int64 `json:"lines"`
	Header       int64 `json:"header"`
	Blank        int64 `json:"blank"`
	DataRows     int64 `json:"data_rows"`
	RowsWritten  int64 `json:"rows_written"`
	RowsRejected int64 `json:"rows_rejected"`
}

// ReadManifest reads the manifest under key, for the operator commands (an error when there is none).
func ReadManifest(ctx context.Context, b store.Bucket, key string) (*Manifest, error) {
	data, _, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", key, err)
	}
	return &m, nil
}
