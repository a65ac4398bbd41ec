// Package workflow holds the handlers of the pipeline's Lambda functions — the SQS-triggered starter and
// the check, validate, transform and write steps of the state machine — with their typed inputs and
// outputs. Inputs and outputs are small JSON documents (object references and counts), far below Step
// Functions' 256 KiB limit; the data itself moves through object storage.
package workflow

import (
	"time"

	"github.com/paysettle/settle/internal/settlement"
)

// FileRef is the raw object an execution processes.
type FileRef struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	ETag   string `json:"etag"` // unquoted
	Size   int64  `json:"size"`
	// VersionID is the object's version in a versioned bucket, from its event: when the key is
	// overwritten before the execution reads it, the execution reads this version, so every uploaded
	// content is processed, never skipped because a newer one took its key.
	VersionID string `json:"versionId,omitempty"`
}

// URL is the object's s3:// address, for messages.
func (f FileRef) URL() string { return "s3://" + f.Bucket + "/" + f.Key }

// ExecutionInput is the state machine's input. The starter marshals it the same way for the same object,
// byte for byte, which Step Functions' name idempotency relies on; it never sets Policy, which is
// omitted when nil so that the bytes stay those of the inputs started before it existed.
type ExecutionInput struct {
	File    FileRef `json:"file"`
	Replace bool    `json:"replace"`
	// Policy, set by an operator's reprocess, overrides the configured validation policy for this
	// execution (Validate honours it); the input is where the settings a file ran under are recorded.
	Policy *PolicyOverride `json:"policy,omitempty"`
}

// PolicyOverride is the validation policy an operator's reprocess runs one file under: each field set
// replaces the configured value (MAX_REJECTED_ROWS, BALANCE_CHECK); the others stay as configured.
type PolicyOverride struct {
	MaxRejected  *int64 `json:"maxRejected,omitempty"`
	BalanceCheck *bool  `json:"balanceCheck,omitempty"`
}

// Apply returns the configured policy p with the override's settings; a nil override changes nothing.
func (o *PolicyOverride) Apply(p settlement.Policy) settlement.Policy {
	if o == nil {
		return p
	}
	if o.MaxRejected != nil {
		p.MaxRejected = *o.MaxRejected
	}
	if o.BalanceCheck != nil {
		p.BalanceCheck = *o.BalanceCheck
	}
	return p
}

// Empty reports whether the override changes nothing (nil or no field set).
func (o *PolicyOverride) Empty() bool {
	return o == nil || o.MaxRejected == nil && o.BalanceCheck == nil
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
	// Input is the execution's input as it was started ($$.Execution.Input), given to Validate only:
	// its Policy, when an operator's reprocess set one, is the policy the file is judged by. It is
	// read from the context object because a state input path to an absent field fails the execution.
	Input *ExecutionInput `json:"input,omitempty"`
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
	// The committed file this one replaces (replace only), and the ETag of the manifest of that commit:
	// the replace replaces that commit and no later one, even one of the same content.
	ReplacesETag     string `json:"replacesEtag,omitempty"`
	ReplacesManifest string `json:"replacesManifest,omitempty"`
	// Overwritten: the key held a newer object when the check read it, so the steps read the file's
	// own version (FileRef.VersionID).
	Overwritten bool `json:"overwritten,omitempty"`
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
	// ReplacesETag and ReplacesManifest are the committed file and commit a replace replaces, looked up
	// here when the check step could not name the batch from the file's first bytes (replace only).
	ReplacesETag     string `json:"replacesEtag,omitempty"`
	ReplacesManifest string `json:"replacesManifest,omitempty"`
}

// replaces is the committed version a replace was started to replace: the file (its ETag) and the
// commit (its manifest's ETag, "" in inputs made before it was recorded) that its check (or, when the
// check could not name the batch, its validation) found committed; "" when there was none.
func (in StepInput) replaces() (file, manifest string) {
	if in.Check != nil && in.Check.MerchantAccount != "" {
		return in.Check.ReplacesETag, in.Check.ReplacesManifest
	}
	if in.Validate != nil {
		return in.Validate.ReplacesETag, in.Validate.ReplacesManifest
	}
	return "", ""
}

// Partition is one Hive partition of the output.
type Partition struct {
	SettlementDate string `json:"settlementDate"`
	Rows           int64  `json:"rows"`
	Key            string `json:"key"`
	Bytes          int64  `json:"bytes,omitempty"`
	// ETag is the published object's, recorded by Write: the table's consistency check compares it with
	// the object under Key, so a partition holding other bytes than its commit's is found without
	// reading it.
	ETag string `json:"etag,omitempty"`
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
	// ReplacedBy is set when this content had been committed and an operator replaced it since: nothing
	// was written, and the batch stays the replacement's.
	ReplacedBy *FileRef `json:"replacedBy,omitempty"`
	// Table is the Iceberg table's commit of the batch's version.
	Table *TableCommit `json:"table,omitempty"`
}
