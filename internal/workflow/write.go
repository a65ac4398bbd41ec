package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/store"
)

// Write publishes the staged Parquet in its partition, removes what a replaced file published elsewhere,
// writes the manifest last and removes the staging.
func (s *Steps) Write(ctx context.Context, in StepInput) (res *WriteResult, err error) {
	ctx, x := s.observe(ctx, in, StepWrite)
	defer func() { x.end(ctx, err, "") }()
	if res, err = s.write(ctx, in, x); err == nil {
		x.committed(ctx, res)
	}
	return res, err
}

func (s *Steps) write(ctx context.Context, in StepInput, x *invocation) (*WriteResult, error) {
	if err := s.source(in); err != nil {
		return nil, err
	}
	if in.Validate == nil || in.Transform == nil {
		return nil, &InvalidFileError{File: in.File.URL(), Reason: "write needs the validate and transform steps' results"}
	}
	if n := len(in.Transform.Partitions); n != 1 {
		return nil, &InvalidFileError{File: in.File.URL(), Reason: fmt.Sprintf("transform staged %d partitions; a batch has one", n)}
	}
	for range maxCommitRaces {
		res, err := s.commit(ctx, in, x)
		if !errors.Is(err, errRace) {
			return res, err
		}
		x.log.InfoContext(ctx, "another writer changed the batch meanwhile; reading it again")
	}
	return nil, &TransientError{Op: "commit " + ManifestKey(in.Validate.MerchantAccount, in.Validate.BatchNumber),
		Err: fmt.Sprintf("other writers changed the batch %d times during this commit", maxCommitRaces)}
}

// publish copies the staged Parquet to its partition's key.
func (s *Steps) publish(ctx context.Context, stagingKey string, p Partition) (store.Object, error) {
	obj, err := s.Processed.Copy(ctx, stagingKey, p.Key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Object{}, &TransientError{Op: "publish " + stagingKey, Err: "the staged Parquet is gone; rerun from the transform step"}
	}
	if err != nil {
		return store.Object{}, infraError("publish "+p.Key, err)
	}
	if p.Bytes != 0 && obj.Size != p.Bytes {
		return store.Object{}, &TransientError{Op: "publish " + p.Key, Err: fmt.Sprintf("staged %d bytes, published %d", p.Bytes, obj.Size)}
	}
	return obj, nil
}

// The commit of a batch, and why it holds under any interleaving.
//
// Two versions of one batch (a report and its regeneration) may reach Write at the same moment, and a
// Write may be retried, redriven or cut short between any two of its calls. Two objects per batch, each
// only ever changed by a conditional write, keep exactly one version committed:
//
//   - The claim (ClaimKey) names the one file allowed to publish into the batch's partitions. It is
//     created with If-None-Match (only when there is none) and replaced or removed only with If-Match
//     on the version read, so of two writers racing for it one wins and the other reads the winner.
//   - The manifest (ManifestKey) is the commit marker. Only the claim's holder writes it, with
//     If-None-Match for a first commit and If-Match on the manifest it replaces.
//
// Write reads the manifest; if another file is committed it stops with a ConflictError (unless the
// input asks to replace it). It then claims the batch, reads the manifest again (a commit may have
// landed between the read and the claim: then it releases the claim and starts over), publishes its
// Parquet (a server-side copy of the staged file), removes the replaced commit's partitions, writes the
// manifest and releases the claim. A loser therefore never publishes anything, and every step is
// idempotent for the claim's holder: a rerun of the same file finds its own claim and goes on from
// there; a rerun after the manifest was written finds the commit and only tidies up.
//
// A claim whose writer died stays until that file's execution is redriven (it then goes on) — or, for
// a replace, until the claim is older than ClaimLease, when the replace takes it over and also removes
// what the dead writer, and every writer whose claim that one had taken over, may have published. Every
// attempt renews its claim (conditionally) before it publishes, and ClaimLease is longer than an attempt
// can live (the Lambda timeout), so a claim is only ever taken over from a writer that is no longer
// running, however long ago its execution first claimed the batch.
//
// A replace replaces exactly the version its check found committed (ReplacesETag): finding another
// version committed by the time it writes, it ends in a ConflictError instead of undoing a newer commit.
//
// While a Write is between its publish and its manifest (a replace, or one that died there and waits for
// its retry or redrive), a reader that lists the partition objects may see both versions of the batch or
// the new rows under the old manifest. Readers of the manifests never do, and Verify reports the batch:
// in flight while its claim is fresh, as a finding naming the redrive once the claim is older than the
// lease.

// ClaimLease is how long a claim keeps a replace waiting. It must exceed the Write function's timeout (15
// minutes at most in Lambda; a test holds the template to it).
const ClaimLease = time.Hour

// maxCommitRaces bounds how often Write starts over after another writer changed the batch between two of
// its calls; each start-over means another writer made progress.
const maxCommitRaces = 8

// ClaimVersion is the claim format's version.
const ClaimVersion = 1

// Claim is a batch's write claim: the file whose commit is in progress and what that commit changes.
type Claim struct {
	Version   int       `json:"version"`
	Source    FileRef   `json:"source"`
	Execution string    `json:"execution"`
	ClaimedAt time.Time `json:"claimed_at"`
	// Base is the ETag of the manifest the commit replaces, "" for a first commit.
	Base string `json:"base_manifest_etag,omitempty"`
	// Publish is the partition object the commit writes.
	Publish string `json:"publish"`
	// Remove lists the partition objects the commit deletes: the replaced commit's, and what the writer
	// of a taken-over claim may have published.
	Remove []string `json:"remove,omitempty"`
	// RemoveETags holds, for the objects of Remove whose version is known (a replaced commit's, recorded
	// in its manifest), that version's ETag: they are deleted only while they hold it, so a late attempt
	// can never delete an object a newer commit put at the same key.
	RemoveETags map[string]string `json:"remove_etags,omitempty"`
}

// errRace means another writer changed the batch between two of Write's calls: read it again.
var errRace = errors.New("the batch changed meanwhile")

func (s *Steps) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// commit is one pass of the write step's protocol; errRace asks for another.
func (s *Steps) commit(ctx context.Context, in StepInput, x *invocation) (*WriteResult, error) {
	log := x.log
	v, t := in.Validate, in.Transform
	p := t.Partitions[0]
	manifestKey, claimKey := ManifestKey(v.MerchantAccount, v.BatchNumber), ClaimKey(v.MerchantAccount, v.BatchNumber)
	m, mTag, err := s.readManifest(ctx, manifestKey)
	if err != nil {
		return nil, err
	}
	if m != nil && m.Source.ETag == in.File.ETag && committedAlready(in, m, mTag) {
		// Committed by an earlier attempt whose answer was lost: that commit is the result.
		log.InfoContext(ctx, "already committed by an earlier attempt", "manifest", manifestKey)
		tc, err := s.commitTable(ctx, manifestKey)
		if err != nil {
			return nil, err // committed: the retry finds the commit and commits the table then
		}
		if err := s.recordCommitted(ctx, manifestKey, m); err != nil {
			return nil, err // the next attempt finds the commit again and records it then
		}
		if err := s.releaseLeftover(ctx, claimKey, m, mTag); err != nil {
			return nil, err
		}
		s.dropStaging(ctx, in, t.StagingKey)
		return &WriteResult{ManifestKey: manifestKey, RowsWritten: m.Counts.RowsWritten, Partitions: m.Partitions, Table: tc}, nil
	}
	if m != nil && m.Source.ETag != in.File.ETag && m.replacedCommit(in) != nil {
		// This content was committed (by this execution's earlier attempt, another execution of it, or for
		// a replace by this replace before a restart) and an operator replaced it since: nothing is left.
		log.InfoContext(ctx, "committed before and replaced since", "manifest", manifestKey, "replaced_by", m.Source.URL())
		if err := s.endWithout(ctx, in, claimKey, m, mTag); err != nil {
			return nil, err
		}
		by := m.Source
		return &WriteResult{ManifestKey: manifestKey, ReplacedBy: &by}, nil
	}
	if m != nil && !in.Replace {
		if err := s.endWithout(ctx, in, claimKey, m, mTag); err != nil {
			return nil, err
		}
		return nil, conflictError(in, v.MerchantAccount, v.BatchNumber, m.Source, false)
	}
	if m != nil && !replaceable(in, m, mTag) {
		// A replace replaces the commit it was started against, never one made since (a redrive of an old
		// replace would otherwise put back what a newer replace took out).
		if err := s.endWithout(ctx, in, claimKey, m, mTag); err != nil {
			return nil, err
		}
		ce := conflictError(in, v.MerchantAccount, v.BatchNumber, m.Source, false)
		ce.Replacing = true
		ce.ReplacesETag, _ = in.replaces()
		return nil, ce
	}

	wctx, span := s.Tracer.Start(ctx, "write")
	claim, claimTag, err := s.claim(wctx, in, claimKey, m, mTag, p.Key)
	if err != nil {
		span.End(err)
		var ce *ConflictError
		if errors.As(err, &ce) {
			s.dropStaging(ctx, in, t.StagingKey)
		}
		return nil, err
	}
	// Holding the claim, no other writer changes the manifest. Read it again: a commit may have landed
	// between the first read and the claim.
	if _, again, err := s.readManifest(wctx, manifestKey); err != nil || again != mTag {
		span.End(err)
		if err != nil {
			return nil, err
		}
		if err := s.release(ctx, claimKey, claimTag); err != nil {
			return nil, err
		}
		return nil, errRace
	}

	if err := s.stillHolds(wctx, claimKey, claimTag); err != nil {
		span.End(err)
		return nil, err
	}
	obj, err := s.publish(wctx, t.StagingKey, p)
	if err != nil {
		span.End(err)
		return nil, err
	}
	p.Bytes, p.ETag = obj.Size, obj.ETag
	if err := s.publishTableFile(wctx, t.StagingKey, v.MerchantAccount, v.BatchNumber, p); err != nil {
		span.End(err)
		return nil, err
	}
	res := &WriteResult{ManifestKey: manifestKey, Partitions: []Partition{p}, RowsWritten: p.Rows}
	for _, key := range claim.Remove {
		if err := s.stillHolds(wctx, claimKey, claimTag); err != nil {
			span.End(err)
			return nil, err
		}
		removed, err := s.removeObject(wctx, x.log, key, claim.RemoveETags[key])
		if err != nil {
			span.End(err)
			return nil, infraError("delete "+key, err)
		}
		if removed {
			res.Removed = append(res.Removed, key)
		}
	}
	span.Annotate("rows", res.RowsWritten)
	span.End(nil)

	body, err := s.manifest(ctx, in, m, res)
	if err != nil {
		return nil, err
	}
	pre := store.Precondition{IfAbsent: true}
	if m != nil {
		pre = store.Precondition{IfMatch: mTag}
	}
	cctx, commit := s.Tracer.Start(ctx, "commit")
	committed, err := s.Processed.PutIf(cctx, manifestKey, body, pre)
	commit.End(err)
	if errors.Is(err, store.ErrPreconditionFailed) {
		// Only a replace that took over this claim after ClaimLease writes the manifest meanwhile.
		log.WarnContext(ctx, "the manifest changed while this file held the batch's claim", "manifest", manifestKey)
		return nil, errRace
	}
	if err != nil {
		return nil, infraError("write "+manifestKey, err)
	}
	// The Iceberg table next, before the ledger: a Write that fails after its manifest leaves the table
	// behind only when the table's own commit failed.
	if res.Table, err = s.commitTable(ctx, manifestKey); err != nil {
		return nil, err // committed: the retry finds the commit and commits the table then
	}
	if err := s.recordCommit(ctx, manifestKey, body); err != nil {
		return nil, err // committed: the retry finds the commit and records it in the ledger then
	}
	if err := s.release(ctx, claimKey, claimTag); err != nil {
		return nil, err // committed: the retry finds the commit and releases the claim
	}
	// Another attempt of this execution may have renewed the claim meanwhile (Step Functions retried an
	// invocation it lost track of): that claim is a leftover of this commit now, released here, since
	// this execution ends in success and nothing would redrive it.
	var written Manifest
	if err := json.Unmarshal(body, &written); err == nil {
		if err := s.releaseLeftover(ctx, claimKey, &written, committed.ETag); err != nil {
			return nil, err
		}
	}
	s.dropStaging(ctx, in, t.StagingKey)
	if res.Table != nil {
		log = log.With("table_version", res.Table.Version)
	}
	log.InfoContext(ctx, "committed", "rows", res.RowsWritten, "manifest", manifestKey)
	return res, nil
}

// stillHolds makes sure, right before a change of the table (a publish, a removal), that this attempt's
// claim is still the batch's: another attempt of the same execution running at once, or a takeover, has
// written another claim meanwhile (errRace: read the batch again). It narrows the window in which a late
// attempt can change the table to one request (docs/decisions.md, 4c).
func (s *Steps) stillHolds(ctx context.Context, key, etag string) error {
	_, cTag, err := s.readClaim(ctx, key)
	if err != nil {
		return err
	}
	if cTag != etag {
		return errRace
	}
	return nil
}

// committedAlready reports whether in has nothing left to do when its content is committed in m (ETag
// mTag): always for a plain execution; for a replace, when its own execution wrote that commit or when
// the commit is not the one it was started to replace (another execution of this content committed it
// since). A replace of the committed file by itself (a republish) against that very commit goes on.
func committedAlready(in StepInput, m *Manifest, mTag string) bool {
	if !in.Replace || m.Execution == in.Execution {
		return true
	}
	file, manifest := in.replaces()
	if manifest != "" {
		return manifest != mTag
	}
	return file != in.File.ETag
}

// removeObject deletes a partition object the commit replaces: at etag when its version is known (an
// object that holds another version now belongs to a newer commit, and stays), else whatever is there.
func (s *Steps) removeObject(ctx context.Context, log *slog.Logger, key, etag string) (bool, error) {
	if etag == "" {
		return true, s.Processed.Delete(ctx, key)
	}
	err := s.Processed.DeleteIf(ctx, key, etag)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case errors.Is(err, store.ErrPreconditionFailed):
		log.WarnContext(ctx, "a replaced object holds another version now; it is left to the commit that wrote it", "key", key, "expected_etag", etag)
		return false, nil
	}
	return err == nil, err
}

// replaceable reports whether in, a replace, may replace the committed manifest m (its ETag mTag): only
// the commit its check found, identified by the manifest's ETag (each commit's manifest differs: it names
// its execution and revision), so that neither a newer commit nor the same content committed again since
// (an ABA: v1, replaced by v2, put back by another replace) is replaced by an old replace's redrive. A
// replace whose check found no commit (it was started while another version was on its way) replaces
// nothing committed since: the operator, told so by the ConflictError, runs it again. Inputs made before
// the manifest's ETag was recorded compare the file's.
func replaceable(in StepInput, m *Manifest, mTag string) bool {
	file, manifest := in.replaces()
	switch {
	case manifest != "":
		return manifest == mTag
	default:
		return file != "" && m.Source.ETag == file
	}
}

// claim makes this file the batch's claimant and returns the claim and its ETag. m and mTag are the
// manifest read before (nil and "" for none); publish is the partition key the file writes.
//
// Every pass writes the claim, this file's own included: a claim is renewed at the start of every
// attempt (ClaimedAt is the attempt's start), so a Write resumed by a retry or a redrive holds a claim no
// older than itself, which a replace cannot take over while it runs (ClaimLease exceeds an attempt's
// life). The renewal is conditional on the claim read, like a takeover, so of a resumed writer and a
// replace taking its old claim over exactly one gets it; the other reads the winner's claim.
//
// A claim's Remove list accumulates: whoever writes a claim carries over the partition objects the
// claims before it meant to remove or published, so that a chain of writers dying and being taken over
// never forgets an object the batch's final commit must not keep.
func (s *Steps) claim(ctx context.Context, in StepInput, key string, m *Manifest, mTag, publish string) (*Claim, string, error) {
	c, cTag, err := s.readClaim(ctx, key)
	if err != nil {
		return nil, "", err
	}
	v := in.Validate
	next := &Claim{Version: ClaimVersion, Source: in.File, Execution: in.Execution, ClaimedAt: s.now().UTC(), Base: mTag, Publish: publish}
	// remove adds key to the objects the commit deletes, at etag ("" when its version is unknown, which
	// wins: a dead writer may have overwritten a committed object in place).
	remove := func(key, etag string) {
		if key == "" || key == publish {
			return
		}
		if !slices.Contains(next.Remove, key) {
			next.Remove = append(next.Remove, key)
			if etag != "" {
				if next.RemoveETags == nil {
					next.RemoveETags = map[string]string{}
				}
				next.RemoveETags[key] = etag
			}
			return
		}
		if etag == "" || next.RemoveETags[key] != etag {
			delete(next.RemoveETags, key)
		}
	}
	carry := func(c *Claim) {
		for _, k := range c.Remove {
			remove(k, c.RemoveETags[k])
		}
		remove(c.Publish, "")
	}
	if m != nil {
		for _, p := range m.Partitions {
			remove(p.Key, p.ETag)
		}
	}
	var pre store.Precondition
	switch {
	case c == nil:
		pre = store.Precondition{IfAbsent: true}
	case c.Execution == in.Execution && c.Source.ETag == in.File.ETag, leftover(c, m, mTag):
		// This execution's own claim, from an attempt that did not finish, or one the committed
		// execution left behind: renew it, keeping what it meant to remove. A claim is its execution's:
		// another execution of the same content (a delivery and an operator's reprocess of it) waits for
		// it like any other writer, since it may be publishing right now.
		pre = store.Precondition{IfMatch: cTag}
		carry(c)
	case !in.Replace && c.Source.ETag != in.File.ETag:
		return nil, "", conflictError(in, v.MerchantAccount, v.BatchNumber, c.Source, true)
	case s.now().Sub(c.ClaimedAt) < ClaimLease:
		return nil, "", &TransientError{Op: "claim " + key, Err: fmt.Sprintf("%s (etag %s) is being committed by execution %s since %s; "+
			"this execution waits until that commit ends, or until its claim is %s old", c.Source.URL(), c.Source.ETag, c.Execution,
			c.ClaimedAt.Format(time.RFC3339), ClaimLease)}
	default:
		// A replace takes over a claim whose writer is gone, and removes what that writer, and every
		// writer whose claim it had taken over, may have published.
		pre = store.Precondition{IfMatch: cTag}
		carry(c)
		x := s.logger(in, StepWrite)
		x.WarnContext(ctx, "taking over a stale claim", "claimed_by", c.Source.URL(), "claimed_at", c.ClaimedAt)
	}
	body, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return nil, "", &StorageError{Op: "encode claim " + key, Err: err.Error()}
	}
	obj, err := s.Processed.PutIf(ctx, key, append(body, '\n'), pre)
	if errors.Is(err, store.ErrPreconditionFailed) {
		return nil, "", errRace
	}
	if err != nil {
		return nil, "", infraError("claim "+key, err)
	}
	return next, obj.ETag, nil
}

// readClaim reads a batch's claim and its ETag; nil when there is none.
func (s *Steps) readClaim(ctx context.Context, key string) (*Claim, string, error) {
	data, obj, err := s.Processed.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", infraError("read claim "+key, err)
	}
	var c Claim
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, "", &TransientError{Op: "read claim " + key, Err: "not a claim: " + err.Error()}
	}
	return &c, obj.ETag, nil
}

// release removes the claim this writer holds. A claim that is gone or no longer this writer's needs no
// release. A failure is returned: a retry of the step finds the commit and releases the claim then.
func (s *Steps) release(ctx context.Context, key, etag string) error {
	err := s.Processed.DeleteIf(ctx, key, etag)
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrPreconditionFailed) {
		return nil
	}
	return infraError("release claim "+key, err)
}

// endWithout tidies up for an execution that ends without committing: the claim it may hold from an
// earlier attempt (which could otherwise stay for good: no later writer treats another execution's claim
// as its own), or the claim the committed Write left, and its staging.
func (s *Steps) endWithout(ctx context.Context, in StepInput, claimKey string, m *Manifest, mTag string) error {
	c, etag, err := s.readClaim(ctx, claimKey)
	if err != nil {
		return err
	}
	if c != nil && (c.Execution == in.Execution && c.Source.ETag == in.File.ETag || leftover(c, m, mTag)) {
		if err := s.release(ctx, claimKey, etag); err != nil {
			return err
		}
	}
	s.dropStaging(ctx, in, in.Transform.StagingKey)
	return nil
}

// leftover reports whether the claim c was left by the Write that committed the manifest m (ETag mTag):
// that execution's claim on an earlier basis, whose commit is done and whose removals are made.
func leftover(c *Claim, m *Manifest, mTag string) bool {
	return c != nil && m != nil && c.Execution == m.Execution && c.Source.ETag == m.Source.ETag && c.Base != mTag
}

// releaseLeftover releases the batch's claim when the committed Write left it (see leftover). Any other
// claim belongs to a commit still on its way (a replace, a republish, another execution of the same
// content) and is left to it.
func (s *Steps) releaseLeftover(ctx context.Context, key string, m *Manifest, mTag string) error {
	c, etag, err := s.readClaim(ctx, key)
	if err != nil || !leftover(c, m, mTag) {
		return err
	}
	return s.release(ctx, key, etag)
}

// dropStaging removes the file's staged Parquet once it is published or can no longer be.
func (s *Steps) dropStaging(ctx context.Context, in StepInput, key string) {
	if err := s.Processed.Delete(ctx, key); err != nil {
		s.logger(in, StepWrite).WarnContext(ctx, "staging not removed; the bucket's lifecycle rule expires it", "staging_key", key, "error", err)
	}
}

// conflictError is the ConflictError of in's file against other, committed or (committing) claimed.
func conflictError(in StepInput, merchant string, batch int64, other FileRef, committing bool) *ConflictError {
	return &ConflictError{File: in.File.URL(), ETag: in.File.ETag, Batch: fmt.Sprintf("%s/%s/%d", settlement.ProviderAdyen, merchant, batch),
		CommittedFile: other.URL(), CommittedETag: other.ETag, Committing: committing}
}

// reportManifest is the part of in's manifest that its file decides, whoever commits it: everything but
// the execution, the published partitions, and what a replace adds (revision, replaced, history). The
// transform step writes it, less the arrival, in the Parquet file's footer (FooterKey), so the Iceberg
// table's data file carries its own manifest and its bytes stay a function of the report; RowsWritten is
// the validated rows, which the transform checks it wrote.
func (s *Steps) reportManifest(in StepInput, rep *settlement.Report) Manifest {
	v := in.Validate
	return Manifest{
		Version: ManifestVersion, Provider: settlement.ProviderAdyen, MerchantAccount: v.MerchantAccount, BatchNumber: v.BatchNumber,
		CompanyAccount: rep.CompanyAccount, SettlementDate: v.SettlementDate, SettlementRule: rep.SettlementDateRule,
		Source: in.File, Currencies: rep.Currencies, Types: rep.Types,
		Warnings: rep.Warnings, RejectsKey: v.RejectsKey, ReportKey: v.ReportKey, Policy: rep.Policy,
		Counts: ManifestCounts{Lines: v.Counts.Lines, Header: v.Counts.Header, Blank: v.Counts.Blank, DataRows: v.Counts.DataRows,
			RowsWritten: v.Counts.Valid, RowsRejected: v.Counts.Rejected},
		Arrived: s.arrival(in),
	}
}

// manifest builds the commit marker of in's file; replaced is the commit it replaces (nil: none).
func (s *Steps) manifest(ctx context.Context, in StepInput, replaced *Manifest, res *WriteResult) ([]byte, error) {
	rep, err := s.readReport(ctx, in.Validate.ReportKey)
	if err != nil {
		return nil, err
	}
	m := s.reportManifest(in, rep)
	m.Execution, m.Partitions, m.Counts.RowsWritten = in.Execution, res.Partitions, res.RowsWritten
	if m.Counts.RowsWritten+m.Counts.RowsRejected != m.Counts.DataRows {
		return nil, &TransientError{Op: "commit " + res.ManifestKey, Err: fmt.Sprintf("counts do not add up: %d written + %d rejected != %d rows", m.Counts.RowsWritten, m.Counts.RowsRejected, m.Counts.DataRows)}
	}
	if replaced != nil {
		prev := replaced.Source
		m.Replaced = &prev
		m.Revision = replaced.Revision + 1
		m.History = append(slices.Clone(replaced.History), Commit{Execution: replaced.Execution, ETag: prev.ETag})
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, &StorageError{Op: "encode manifest " + res.ManifestKey, Err: err.Error()}
	}
	return append(body, '\n'), nil
}
