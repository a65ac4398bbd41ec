package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/store"
)

// The table proves itself: Verify compares what a reader of settlement_lines/ sees with what the
// manifests (the commit markers) say was committed, and reports every difference as a finding. It is the
// check that finds a schedule nobody thought of, whatever its cause: the commit protocol's tests prove
// the schedules someone did think of.
//
// A commit in progress is not a finding: while a batch's claim is younger than ClaimLease, the objects
// it publishes or removes are listed as in flight (a reader may see both versions of that batch during
// that window, which the README's guarantees state). A claim older than the lease is a finding: its
// Write died mid-commit and its execution must be redriven.

// Finding kinds.
const (
	// FindingOrphanObject: an object under settlement_lines/ that no committed manifest names (a
	// version that lost, or was replaced, and is still visible to readers that list files).
	FindingOrphanObject = "orphan-object"
	// FindingMissingObject: a manifest names a partition object that does not exist.
	FindingMissingObject = "missing-object"
	// FindingChangedObject: a partition object holds other bytes than its commit published.
	FindingChangedObject = "changed-object"
	// FindingSharedObject: two manifests name one object.
	FindingSharedObject = "shared-object"
	// FindingCounts: a manifest whose counts do not add up, or that cannot be read.
	FindingCounts = "counts"
	// FindingContent: a partition object's rows (count or source) differ from its manifest's (deep check).
	FindingContent = "content"
	// FindingStaleClaim: a batch claimed longer than ClaimLease ago: its Write died mid-commit.
	FindingStaleClaim = "stale-claim"
	// FindingStaleStaging: a staged Parquet older than the redrive window: no execution can publish it.
	FindingStaleStaging = "stale-staging"
	// FindingLedger: a committed batch the batch ledger lacks, or records from another file.
	FindingLedger = "ledger"
	// FindingTable: the Iceberg table does not hold a batch's committed version (it lags its manifest,
	// holds another version, or a batch no manifest commits), or its snapshot's data files disagree with
	// its record of batches or are missing.
	FindingTable = "iceberg-table"
)

// Finding is one inconsistency between the table and its manifests.
type Finding struct {
	Kind string `json:"kind"`
	// Key is the object the finding is about; Kind and Key identify the finding across checks.
	Key string `json:"key"`
	// Batch is provider/merchant/batch, when the finding belongs to one.
	Batch  string `json:"batch,omitempty"`
	Detail string `json:"detail"`
	// Remedy says what resolves it; Command, when one command does, is that command's words after
	// "settle" (or "settle aws --stack NAME").
	Remedy  string `json:"remedy"`
	Command string `json:"command,omitempty"`
}

// ID identifies a finding across checks (its alert and its resolution are sent once each).
func (f Finding) ID() string { return f.Kind + " " + f.Key }

func (f Finding) String() string { return f.Kind + ": " + f.Key + ": " + f.Detail }

// InFlight is a commit in progress: a claim younger than ClaimLease and the objects it publishes and
// removes, which may differ from the manifests until it ends.
type InFlight struct {
	Batch     string    `json:"batch"`
	Source    FileRef   `json:"source"`
	Execution string    `json:"execution"`
	Since     time.Time `json:"since"`
	Objects   []string  `json:"objects"`
}

// VerifyReport is what one consistency check found.
type VerifyReport struct {
	Checked   time.Time  `json:"checked"`
	Bucket    string     `json:"bucket"`
	Manifests int        `json:"manifests"`
	Objects   int        `json:"objects"`
	Rows      int64      `json:"rows"`
	Claims    int        `json:"claims"`
	Staged    int        `json:"staged"`
	Deep      bool       `json:"deep"`
	InFlight  []InFlight `json:"in_flight"`
	Findings  []Finding  `json:"findings"`
}

// OK reports whether the table is consistent with its manifests.
func (r *VerifyReport) OK() bool { return len(r.Findings) == 0 }

// ContentFunc reads a committed Parquet object's row count and the source ETags its rows carry, for the
// deep check (package parquetfile reads the footer; the workflow package links no Parquet reader).
type ContentFunc func(ctx context.Context, b store.Bucket, obj store.Object) (rows int64, sources []string, err error)

// Verifier checks a processed bucket's table against its manifests.
type Verifier struct {
	Processed store.Bucket
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Content, when set, also reads every committed object's rows (the deep check): one footer read each.
	Content ContentFunc
	// Table, when set, is the Iceberg table checked against the manifests too.
	Table TableReader
}

// committedPart is a partition object a manifest names.
type committedPart struct {
	manifest string
	m        *Manifest
	p        Partition
}

// Verify runs the check. An error means the bucket could not be read; inconsistencies are findings.
func (v *Verifier) Verify(ctx context.Context) (*VerifyReport, error) {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	b := v.Processed
	rep := &VerifyReport{Checked: now.UTC(), Bucket: b.Name(), Deep: v.Content != nil, InFlight: []InFlight{}, Findings: []Finding{}}
	add := func(f Finding) { rep.Findings = append(rep.Findings, f) }

	// The listings go from the objects to the claims to the manifests: a commit publishes only while it
	// holds its claim, and releases the claim only after writing its manifest, so an object listed first
	// is named by a claim or a manifest listed after it. What a commit running meanwhile can
	// still make look wrong (a replace's removals, a manifest newer than the objects listed) is checked
	// again, finding by finding, before it is reported (confirm).
	objects, err := b.List(ctx, LinesPrefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", LinesPrefix, err)
	}
	// Claims: a fresh one is a commit in flight; a stale one a Write that died mid-commit.
	claims, err := b.List(ctx, ClaimPrefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", ClaimPrefix, err)
	}
	inFlight := map[string]*InFlight{} // object key -> the commit in flight that touches it
	for _, o := range claims {
		data, _, err := b.Get(ctx, o.Key)
		if errors.Is(err, store.ErrNotFound) {
			continue // released since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("read claim %s: %w", o.Key, err)
		}
		rep.Claims++
		var c Claim
		if err := json.Unmarshal(data, &c); err != nil {
			add(Finding{Kind: FindingStaleClaim, Key: o.Key, Detail: "not a claim: " + err.Error(),
				Remedy: "remove the object: no Write can use it"})
			continue
		}
		batch := strings.TrimSuffix(strings.TrimPrefix(o.Key, ClaimPrefix), ".json")
		age := now.Sub(c.ClaimedAt)
		if age >= ClaimLease {
			if m, mTag, err := readManifestAt(ctx, b, ManifestPrefix+batch+".json"); err != nil {
				return nil, err
			} else if leftover(&c, m, mTag) {
				add(Finding{Kind: FindingStaleClaim, Key: o.Key, Batch: batch, Detail: fmt.Sprintf(
					"left by execution %s, which committed the batch: its commit is done, and the claim makes other files of the batch wait or conflict", c.Execution),
					Remedy: "remove the claim object (a replace of the batch, or a check of the committed file, also releases it)"})
				continue
			}
			add(Finding{Kind: FindingStaleClaim, Key: o.Key, Batch: batch, Detail: fmt.Sprintf(
				"%s (etag %s) claimed the batch %s ago in execution %s and did not finish its commit; readers may see %s",
				c.Source.URL(), c.Source.ETag, age.Round(time.Minute), c.Execution, claimEffect(c)),
				Remedy:  "redrive the execution: its Write goes on from its claim and completes the commit",
				Command: "redrive " + c.Execution})
			continue
		}
		f := &InFlight{Batch: batch, Source: c.Source, Execution: c.Execution, Since: c.ClaimedAt, Objects: append([]string{c.Publish}, c.Remove...)}
		rep.InFlight = append(rep.InFlight, *f)
		for _, k := range f.Objects {
			inFlight[k] = f
		}
	}

	manifests, err := b.List(ctx, ManifestPrefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", ManifestPrefix, err)
	}
	parts := map[string][]committedPart{}
	var committed []*Manifest
	var committedKeys []string
	for _, o := range manifests {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		m, err := ReadManifest(ctx, b, o.Key)
		if errors.Is(err, store.ErrNotFound) {
			continue // replaced or removed since the listing
		}
		if err != nil {
			add(Finding{Kind: FindingCounts, Key: o.Key, Detail: "the manifest cannot be read: " + err.Error(),
				Remedy: "restore the manifest from the bucket's previous versions, then verify again"})
			continue
		}
		rep.Manifests++
		committed, committedKeys = append(committed, m), append(committedKeys, o.Key)
		batch := m.batch()
		c := m.Counts
		var partRows int64
		for _, p := range m.Partitions {
			partRows += p.Rows
			parts[p.Key] = append(parts[p.Key], committedPart{manifest: o.Key, m: m, p: p})
		}
		if c.RowsWritten+c.RowsRejected != c.DataRows || partRows != c.RowsWritten {
			add(Finding{Kind: FindingCounts, Key: o.Key, Batch: batch, Detail: fmt.Sprintf(
				"counts do not add up: %d written + %d rejected against %d data rows; partitions hold %d rows",
				c.RowsWritten, c.RowsRejected, c.DataRows, partRows),
				Remedy: "reprocess the batch's file with replace", Command: "reprocess s3://" + m.Source.Bucket + "/" + m.Source.Key + " --replace"})
		}
		rep.Rows += c.RowsWritten
	}

	// The objects readers see.
	present := map[string]store.Object{}
	for _, o := range objects {
		present[o.Key] = o
		rep.Objects++
		if len(parts[o.Key]) > 0 || inFlight[o.Key] != nil {
			continue
		}
		add(Finding{Kind: FindingOrphanObject, Key: o.Key, Batch: partitionBatch(o.Key), Detail: fmt.Sprintf(
			"no committed manifest names it (%d bytes, modified %s): readers that list the partition count its rows",
			o.Size, o.Modified.UTC().Format(time.RFC3339)),
			Remedy: "if `show` names no execution still committing it, remove the object: the batch's manifest names the version that counts"})
	}
	partKeys := make([]string, 0, len(parts))
	for k := range parts {
		partKeys = append(partKeys, k)
	}
	sort.Strings(partKeys)
	for _, key := range partKeys {
		cps := parts[key]
		cp := cps[0]
		batch, src := cp.m.batch(), cp.m.Source
		replace := "reprocess s3://" + src.Bucket + "/" + src.Key + " --replace"
		if len(cps) > 1 {
			var names []string
			for _, o := range cps {
				names = append(names, o.manifest)
			}
			add(Finding{Kind: FindingSharedObject, Key: key, Batch: batch, Detail: "named by several manifests: " + strings.Join(names, ", "),
				Remedy: "reprocess each batch's file with replace"})
		}
		if inFlight[key] != nil {
			continue
		}
		obj, ok := present[key]
		switch {
		case !ok:
			add(Finding{Kind: FindingMissingObject, Key: key, Batch: batch, Detail: fmt.Sprintf(
				"%s commits %d rows of %s here, but the object is gone", cp.manifest, cp.p.Rows, src.URL()),
				Remedy: "reprocess the committed file with replace: it publishes the partition again", Command: replace})
			continue
		case cp.p.ETag != "" && obj.ETag != cp.p.ETag, cp.p.ETag == "" && cp.p.Bytes != 0 && obj.Size != cp.p.Bytes:
			add(Finding{Kind: FindingChangedObject, Key: key, Batch: batch, Detail: fmt.Sprintf(
				"holds %d bytes (etag %s), but %s committed %d bytes (etag %s) of %s", obj.Size, obj.ETag, cp.manifest,
				cp.p.Bytes, orDash(cp.p.ETag), src.URL()),
				Remedy: "reprocess the committed file with replace: it publishes its own Parquet again", Command: replace})
			continue
		}
		if v.Content == nil {
			continue
		}
		rows, sources, err := v.Content(ctx, b, obj)
		if err != nil {
			add(Finding{Kind: FindingContent, Key: key, Batch: batch, Detail: "not readable as Parquet: " + err.Error(),
				Remedy: "reprocess the committed file with replace", Command: replace})
			continue
		}
		if rows != cp.p.Rows || !slices.Equal(sources, []string{src.ETag}) {
			add(Finding{Kind: FindingContent, Key: key, Batch: batch, Detail: fmt.Sprintf(
				"holds %d rows from %v, but %s commits %d rows from %s", rows, sources, cp.manifest, cp.p.Rows, src.ETag),
				Remedy: "reprocess the committed file with replace", Command: replace})
		}
	}

	// Staging an execution can still publish is kept for the redrive window; older staging cannot be.
	staged, err := b.List(ctx, StagingPrefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", StagingPrefix, err)
	}
	for _, o := range staged {
		rep.Staged++
		if age := now.Sub(o.Modified); age > RedriveWindow {
			add(Finding{Kind: FindingStaleStaging, Key: o.Key, Detail: fmt.Sprintf(
				"staged %s ago, longer than the %s in which its execution could be redriven", age.Round(time.Hour), RedriveWindow),
				Remedy: "no execution can publish it: remove it (the bucket's lifecycle rule expires it after " +
					fmt.Sprint(StagingExpiryDays) + " days)"})
		}
	}

	// The ledger must know every committed batch, from the committed file.
	ledgers := map[string]*ledger.Ledger{}
	for i, m := range committed {
		key := LedgerKey(m.Provider, m.MerchantAccount)
		l, ok := ledgers[key]
		if !ok {
			l, _, err = readLedgerObject(ctx, b, key, ledger.New(m.Provider, m.MerchantAccount))
			if err != nil {
				return nil, err
			}
			ledgers[key] = l
		}
		got := l.Find(m.BatchNumber)
		switch {
		case got == nil:
			add(Finding{Kind: FindingLedger, Key: committedKeys[i], Batch: m.batch(), Detail: fmt.Sprintf(
				"committed from %s, but %s does not list the batch: the batch check would report it missing", m.Source.URL(), key),
				Remedy: "rebuild the ledgers from the manifests", Command: "ledger --rebuild"})
		case got.Source.ETag != m.Source.ETag:
			add(Finding{Kind: FindingLedger, Key: committedKeys[i], Batch: m.batch(), Detail: fmt.Sprintf(
				"committed from %s (etag %s), but %s records etag %s", m.Source.URL(), m.Source.ETag, key, got.Source.ETag),
				Remedy: "rebuild the ledgers from the manifests", Command: "ledger --rebuild"})
		}
	}
	if v.Table != nil {
		if err := v.checkTable(ctx, committed, committedKeys, add); err != nil {
			return nil, err
		}
	}
	confirmed := rep.Findings[:0]
	for _, f := range rep.Findings {
		ok, err := v.confirm(ctx, f, now)
		if err != nil {
			return nil, err
		}
		if ok {
			confirmed = append(confirmed, f)
		}
	}
	rep.Findings = confirmed
	sort.SliceStable(rep.Findings, func(i, j int) bool { return rep.Findings[i].ID() < rep.Findings[j].ID() })
	return rep, nil
}

// confirm reads again what a finding is about, after the whole check: a commit that ran during the
// check may have made a consistent table look wrong for a moment (a replace removed an object listed
// before its manifest was read, a batch committed between two listings). A finding is reported only
// when it still holds: the object, the batch's manifest and its claim read now agree with it.
func (v *Verifier) confirm(ctx context.Context, f Finding, now time.Time) (bool, error) {
	b := v.Processed
	switch f.Kind {
	case FindingOrphanObject, FindingMissingObject, FindingChangedObject, FindingContent:
		obj, err := b.Head(ctx, f.Key)
		if errors.Is(err, store.ErrNotFound) {
			if f.Kind == FindingOrphanObject {
				return false, nil
			}
			obj = store.Object{}
		} else if err != nil {
			return false, fmt.Errorf("head %s: %w", f.Key, err)
		}
		batch := partitionBatch(f.Key)
		if batch == "" {
			return true, nil
		}
		if c, _, err := readClaimAt(ctx, b, ClaimPrefix+batch+".json"); err != nil || c != nil && now.Sub(c.ClaimedAt) < ClaimLease {
			return false, err // a commit of the batch is in flight now
		}
		m, err := ReadManifest(ctx, b, ManifestPrefix+batch+".json")
		if errors.Is(err, store.ErrNotFound) {
			return f.Kind == FindingOrphanObject, nil
		}
		if err != nil {
			return false, err
		}
		var named *Partition
		for i := range m.Partitions {
			if m.Partitions[i].Key == f.Key {
				named = &m.Partitions[i]
			}
		}
		switch f.Kind {
		case FindingOrphanObject:
			return named == nil, nil
		case FindingMissingObject:
			return named != nil && obj.Key == "", nil
		case FindingChangedObject:
			return named != nil && obj.Key != "" && (named.ETag != "" && obj.ETag != named.ETag || named.ETag == "" && obj.Size != named.Bytes), nil
		default:
			return named != nil && obj.Key != "" && (named.ETag == "" || obj.ETag == named.ETag), nil
		}
	case FindingTable:
		return v.tableStillDiffers(ctx, f)
	case FindingLedger:
		m, err := ReadManifest(ctx, b, f.Key)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		l, _, err := readLedgerObject(ctx, b, LedgerKey(m.Provider, m.MerchantAccount), ledger.New(m.Provider, m.MerchantAccount))
		if err != nil {
			return false, err
		}
		got := l.Find(m.BatchNumber)
		return got == nil || got.Source.ETag != m.Source.ETag, nil
	case FindingStaleClaim:
		c, _, err := readClaimAt(ctx, b, f.Key)
		if err != nil || c == nil {
			return false, err
		}
		return now.Sub(c.ClaimedAt) >= ClaimLease, nil
	}
	return true, nil
}

// readClaimAt reads the claim under key (nil when there is none); one that cannot be decoded is returned
// as a claim from the zero time, so that it reads as stale.
func readClaimAt(ctx context.Context, b store.Bucket, key string) (*Claim, string, error) {
	data, obj, err := b.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read claim %s: %w", key, err)
	}
	var c Claim
	if json.Unmarshal(data, &c) != nil {
		return &Claim{}, obj.ETag, nil
	}
	return &c, obj.ETag, nil
}

// batch is the manifest's provider/merchant/batch.
func (m *Manifest) batch() string {
	return fmt.Sprintf("%s/%s/%d", m.Provider, m.MerchantAccount, m.BatchNumber)
}

// claimEffect says what a reader may see while a claim's commit is unfinished.
func claimEffect(c Claim) string {
	if len(c.Remove) == 0 {
		return "its Parquet at " + c.Publish + " without a commit"
	}
	return "its Parquet at " + c.Publish + " beside, or in place of, the version it replaces (" + strings.Join(c.Remove, ", ") + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readManifestAt reads the manifest under key and its ETag (nil and "" when there is none).
func readManifestAt(ctx context.Context, b store.Bucket, key string) (*Manifest, string, error) {
	data, obj, err := b.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read manifest %s: %w", key, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", fmt.Errorf("read manifest %s: %w", key, err)
	}
	return &m, obj.ETag, nil
}
