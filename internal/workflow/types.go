// Package workflow holds the handlers of the pipeline's Lambda functions — the SQS-triggered starter and
// the check, validate, transform and write steps of the state machine — with their typed inputs and
// outputs. Inputs and outputs are small JSON documents (object references and counts), far below Step
// Functions' 256 KiB limit; the data itself moves through object storage.
package workflow

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/settlement"
)

// FileRef is the raw object an execution processes.
type FileRef struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	ETag   string `json:"etag"` // unquoted
	Size   int64  `json:"size"`
}

// URL is the object's s3:// address, for messages.
func (f FileRef) URL() string { return "s3://" + f.Bucket + "/" + f.Key }

// ExecutionInput is the state machine's input. The starter marshals it the same way for the same object,
// byte for byte, which Step Functions' name idempotency relies on.
type ExecutionInput struct {
	File    FileRef `json:"file"`
	Replace bool    `json:"replace"`
}

// StepInput is what the definition passes every step: the execution's name, the file, the replace flag
// and the results of the steps before.
type StepInput struct {
	Execution string           `json:"execution"`
	File      FileRef          `json:"file"`
	Replace   bool             `json:"replace"`
	Check     *CheckResult     `json:"check,omitempty"`
	Validate  *ValidateResult  `json:"validate,omitempty"`
	Transform *TransformResult `json:"transform,omitempty"`
}

// CheckResult is the check step's output.
type CheckResult struct {
	AlreadyProcessed bool   `json:"alreadyProcessed"`
	Reason           string `json:"reason,omitempty"` // why nothing is left to do
	Format           string `json:"format"`
	Size             int64  `json:"size"`
	// The batch, from the first valid row. Empty when the first bytes held none; validation decides then.
	MerchantAccount string `json:"merchantAccount,omitempty"`
	BatchNumber     int64  `json:"batchNumber,omitempty"`
	// The committed file this one replaces (replace only).
	ReplacesETag string `json:"replacesEtag,omitempty"`
	// Arrived is when the object was stored (S3's Last-Modified): the FileAge metric measures it from
	// the start of the batch's settlement date.
	Arrived time.Time `json:"arrived,omitzero"`
}

// ValidateResult is the validate step's output.
type ValidateResult struct {
	MerchantAccount string            `json:"merchantAccount"`
	BatchNumber     int64             `json:"batchNumber"`
	SettlementDate  string            `json:"settlementDate"`
	Counts          settlement.Counts `json:"counts"`
	Warnings        int               `json:"warnings"`
	RejectsKey      string            `json:"rejectsKey,omitempty"`
	ReportKey       string            `json:"reportKey"`
}

// Partition is one Hive partition of the output.
type Partition struct {
	SettlementDate string `json:"settlementDate"`
	Rows           int64  `json:"rows"`
	Key            string `json:"key"`
	Bytes          int64  `json:"bytes,omitempty"`
}

// TransformResult is the transform step's output.
type TransformResult struct {
	StagingKey string      `json:"stagingKey"`
	Rows       int64       `json:"rows"`
	Partitions []Partition `json:"partitions"`
}

// WriteResult is the write step's output.
type WriteResult struct {
	ManifestKey string      `json:"manifestKey"`
	RowsWritten int64       `json:"rowsWritten"`
	Partitions  []Partition `json:"partitions"`
	Removed     []string    `json:"removed,omitempty"` // objects of a replaced file that are no longer part of the batch
}

// Keys of the processed bucket. Every key derives from the batch's natural key (provider, merchant
// account, batch number) or from the file's ETag, never from time or randomness, so rerunning any step
// overwrites the same objects instead of adding copies.
const (
	ManifestPrefix = "_manifests/"
	ClaimPrefix    = "_claims/"
	StagingPrefix  = "_staging/"
	RejectedPrefix = "rejected/"
	ReportPrefix   = "_reports/"
	LinesPrefix    = "settlement_lines/"
)

// batchPath is provider/merchant/batch with the merchant account escaped for keys.
func batchPath(merchant string, batch int64) string {
	return settlement.ProviderAdyen + "/" + escapeKey(merchant) + "/" + strconv.FormatInt(batch, 10)
}

// ManifestKey is the commit marker of a batch.
func ManifestKey(merchant string, batch int64) string {
	return ManifestPrefix + batchPath(merchant, batch) + ".json"
}

// ClaimKey is a batch's claim: the file whose commit is in progress (see Claim).
func ClaimKey(merchant string, batch int64) string {
	return ClaimPrefix + batchPath(merchant, batch) + ".json"
}

// PartitionKey is the Parquet object of a batch in a settlement-date partition.
func PartitionKey(date, merchant string, batch int64) string {
	return fmt.Sprintf("%ssettlement_date=%s/%s_%s_%d.parquet", LinesPrefix, date, settlement.ProviderAdyen, escapeKey(merchant), batch)
}

// StagingKey is where transform writes a file's Parquet for write to publish.
func StagingKey(etag string) string {
	return StagingPrefix + escapeKey(etag) + "/settlement_lines.parquet"
}

// fileBase names a file's rejects and report: under its batch when the check step found it, else under
// _unknown, and always by ETag, since two versions of a batch each have their own rejects.
func fileBase(check *CheckResult, etag string) string {
	if check != nil && check.MerchantAccount != "" {
		return batchPath(check.MerchantAccount, check.BatchNumber) + "/" + escapeKey(etag)
	}
	return settlement.ProviderAdyen + "/_unknown/" + escapeKey(etag)
}

// RejectsKey is the JSON Lines file of a file's rejected rows.
func RejectsKey(check *CheckResult, etag string) string {
	return RejectedPrefix + fileBase(check, etag) + ".jsonl"
}

// ReportKey is a file's validation report.
func ReportKey(check *CheckResult, etag string) string {
	return ReportPrefix + fileBase(check, etag) + ".json"
}

// escapeKey keeps [A-Za-z0-9._-] and writes other bytes as %XX, so a merchant account can never add a
// path segment or a character that needs quoting in Athena or a shell.
func escapeKey(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || (c == '.' && i > 0) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// ExecutionName derives a Step Functions execution name from an ETag: quotes removed, only
// [0-9A-Za-z_-] kept (others become '_'), at most 80 characters with room for a "-rN" suffix.
func ExecutionName(etag string) string {
	etag = strings.Trim(etag, `"`)
	var b strings.Builder
	for i := 0; i < len(etag) && b.Len() < 72; i++ {
		c := etag[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "no-etag"
	}
	return b.String()
}
