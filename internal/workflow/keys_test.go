package workflow_test

import (
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/workflow"
)

// TestKeysFitS3: with the longest merchant account a valid row may have (settlement.MaxAccountBytes,
// every byte escaped), the largest batch number and a multipart ETag, every key of a batch stays within
// S3's 1024 bytes.
func TestKeysFitS3(t *testing.T) {
	merchant := strings.Repeat("ü", settlement.MaxAccountBytes/2) // 2 bytes, 6 escaped, each
	const batch = 999_999_999_999_999_999
	etag := strings.Repeat("f", 32) + "-10000"
	check := &workflow.CheckResult{MerchantAccount: merchant, BatchNumber: batch}
	for _, key := range []string{
		workflow.ManifestKey(merchant, batch), workflow.PartitionKey("2024-05-03", merchant, batch),
		workflow.StagingKey(etag, workflow.ExecutionName(etag)+"-r10-p50"), workflow.RejectsKey(check, etag), workflow.ReportKey(check, etag),
	} {
		if len(key) > 1024 {
			t.Errorf("%d bytes, over S3's 1024: %.80s…", len(key), key)
		}
	}
}

// A content's later executions: restarts (-rN) and reprocesses (-pN). ContentName strips both;
// RestartBase only the restarts, since a reprocess's restarts are numbered from its own name.
func TestSuccessorNames(t *testing.T) {
	for _, c := range []struct{ name, content, base string }{
		{"abc", "abc", "abc"},
		{"abc-r1", "abc", "abc"},
		{"abc-r1-r2", "abc", "abc"},
		{"abc-p1", "abc", "abc-p1"},
		{"abc-p2-r3", "abc", "abc-p2"},
		{"abc-r", "abc-r", "abc-r"},
	} {
		if got := workflow.ContentName(c.name); got != c.content {
			t.Errorf("ContentName(%q) = %q, want %q", c.name, got, c.content)
		}
		if got := workflow.RestartBase(c.name); got != c.base {
			t.Errorf("RestartBase(%q) = %q, want %q", c.name, got, c.base)
		}
	}
}
