package workflow

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/settlement"
)

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

// partitionBatch is the provider/merchant/batch a partition object's key names (merchant as escaped in
// keys), or "" when the key is not one PartitionKey makes.
func partitionBatch(key string) string {
	name, ok := strings.CutSuffix(path.Base(key), ".parquet")
	if !ok {
		return ""
	}
	rest, ok := strings.CutPrefix(name, settlement.ProviderAdyen+"_")
	i := strings.LastIndexByte(rest, '_')
	if !ok || i <= 0 {
		return ""
	}
	if _, err := strconv.ParseInt(rest[i+1:], 10, 64); err != nil {
		return ""
	}
	return settlement.ProviderAdyen + "/" + rest[:i] + "/" + rest[i+1:]
}

// StagingKey is where an execution's transform writes the file's Parquet for its write to publish. It
// is named by the execution as well as the ETag: two executions of one content (a delivery and an
// operator's reprocess) each stage their own, so that one of them ending (and removing its staging)
// never takes the other's away. A redrive keeps the execution's name, and so finds its staging.
func StagingKey(etag, execution string) string {
	return StagingPrefix + escapeKey(etag) + "/" + escapeKey(execution) + "/settlement_lines.parquet"
}

// StagingExpiryDays is how long the processed bucket keeps a staged Parquet (the template's lifecycle
// rule): longer than Step Functions lets a failed execution be redriven (14 days), so a redriven Write
// always finds what its Transform staged.
const StagingExpiryDays = 15

// RedriveWindow is how long after it failed Step Functions lets an execution be redriven.
const RedriveWindow = 14 * 24 * time.Hour

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

// successorSuffix matches the suffixes that later executions of the same content carry: -rN when a
// failed execution is restarted (Launch), -pN when an operator reprocesses a file.
var successorSuffix = regexp.MustCompile(`(-[pr][0-9]+)+$`)

// ContentName is the name of a content's first execution: name without its -rN and -pN suffixes.
func ContentName(name string) string { return successorSuffix.ReplaceAllString(name, "") }

// restartSuffix matches the -rN suffixes of restarts.
var restartSuffix = regexp.MustCompile(`(-r[0-9]+)+$`)

// RestartBase is the name Launch numbers an execution's restarts from: name without its -rN suffixes
// (a reprocess's -pN stays: its restarts are its own).
func RestartBase(name string) string { return restartSuffix.ReplaceAllString(name, "") }
