package workflow

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/store"
)

// Check heads the object, enforces the size limit, sniffs the format from its first bytes and looks up
// the manifest of its batch: the same content already committed is AlreadyProcessed; different content
// committed for the same batch is a ConflictError unless the input asks to replace it.
func (s *Steps) Check(ctx context.Context, in StepInput) (res *CheckResult, err error) {
	ctx, x := s.observe(ctx, in, StepCheck)
	defer func() { x.end(ctx, err, checkOutcome(res)) }()
	return s.check(ctx, in, x)
}

func (s *Steps) check(ctx context.Context, in StepInput, x *invocation) (*CheckResult, error) {
	log := x.log
	if err := s.source(in); err != nil {
		return nil, err
	}
	file := in.File.URL()
	rctx, read := s.Tracer.Start(ctx, "read")
	obj, err := s.Raw.Head(rctx, in.File.Key)
	if err != nil {
		read.End(err)
		return nil, storageError("head "+file, file, err)
	}
	overwritten := obj.ETag != in.File.ETag
	if overwritten {
		// Another upload took the key before this execution read it. Its content has an execution of its
		// own; this one processes the version its event announced, so that neither content is lost.
		v, ok := s.Raw.(store.Versioned)
		if !ok || in.File.VersionID == "" {
			read.End(nil)
			return nil, &InvalidFileError{File: file, Reason: fmt.Sprintf("the key was overwritten (it now holds etag %s) before this file (etag %s) was read, "+
				"and the bucket keeps no version of it to read: upload the report again under a name of its own", obj.ETag, in.File.ETag)}
		}
		if obj, err = v.HeadVersion(rctx, in.File.Key, in.File.VersionID); err != nil {
			read.End(err)
			return nil, storageError("head version "+in.File.VersionID+" of "+file, file, err)
		}
		if obj.ETag != in.File.ETag {
			read.End(nil)
			return nil, &InvalidFileError{File: file, Reason: fmt.Sprintf("version %s has etag %s, not the event's %s", in.File.VersionID, obj.ETag, in.File.ETag)}
		}
		log.InfoContext(ctx, "the key was overwritten; reading the version the event announced", "version_id", in.File.VersionID)
	}
	if obj.Size == 0 {
		read.End(nil)
		return nil, &InvalidFileError{File: file, Reason: "the file is empty (0 bytes)"}
	}
	if obj.Size > s.Conf.maxFileBytes() {
		read.End(nil)
		return nil, &InvalidFileError{File: file, Reason: fmt.Sprintf("the file is %d bytes, over the limit of %d (%s); ask the provider for smaller batches or raise the limit",
			obj.Size, s.Conf.maxFileBytes(), s.Conf.SettingNames.Setting("MAX_FILE_BYTES", "MaxFileBytes"))}
	}
	head, err := s.sniff(rctx, StepInput{File: in.File, Check: &CheckResult{Overwritten: overwritten}})
	read.Annotate("bytes", len(head))
	read.End(err)
	if err != nil {
		return nil, err
	}
	res := &CheckResult{Format: "adyen-settlement-details", Size: obj.Size, Arrived: obj.Modified, Overwritten: overwritten}
	_, parse := s.Tracer.Start(ctx, "parse")
	defer func() { parse.End(nil) }()
	if bytes.IndexByte(head, 0) >= 0 {
		return nil, &InvalidFileError{File: file, Reason: "binary content (NUL bytes in the first bytes): not a CSV settlement report"}
	}
	if int64(len(head)) == SniffBytes {
		// The prefix ends inside the file: its last line may be cut short (a batch number read as 123
		// from 1234567), so only the lines it holds whole are read.
		if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
			head = head[:i+1]
		}
	}
	rd, err := settlement.NewReader(bytes.NewReader(head), s.Conf.Read)
	if err != nil {
		return nil, readError("sniff", file, err)
	}
	for {
		row, err := rd.Next()
		if err != nil {
			break // the prefix ends, maybe mid-row: only complete valid rows count
		}
		if row.Valid() {
			res.MerchantAccount, res.BatchNumber = string(row.MerchantAccount), row.BatchNumber
			break
		}
	}
	if res.MerchantAccount == "" {
		log.InfoContext(ctx, "no valid row in the first bytes; the batch is known after validation")
		return res, nil
	}
	x.batch(res.MerchantAccount, res.BatchNumber)
	log = x.log
	found, err := s.committed(ctx, in, res.MerchantAccount, res.BatchNumber)
	if err != nil {
		return nil, err
	}
	if found.done {
		res.AlreadyProcessed, res.Reason = true, found.reason
		log.InfoContext(ctx, "already processed", "reason", found.reason)
	}
	res.ReplacesETag, res.ReplacesManifest = found.replaces, found.replacesManifest
	return res, nil
}

// sniff reads the first SniffBytes of the file.
func (s *Steps) sniff(ctx context.Context, in StepInput) ([]byte, error) {
	file := in.File.URL()
	rc, err := s.openRaw(ctx, in, 0, SniffBytes)
	if err != nil {
		return nil, storageError("read "+file, file, err)
	}
	defer rc.Close()
	head, err := io.ReadAll(rc)
	if err != nil {
		return nil, infraError("read "+file, err)
	}
	return head, nil
}

// lookup is what the check finds committed for a file's batch.
type lookup struct {
	// done: nothing is left to do (Reason says why): this content is committed, or was committed and an
	// operator replaced it since.
	done   bool
	reason string
	// replaces and replacesManifest are the committed file (its ETag) and commit (its manifest's ETag)
	// a replace replaces.
	replaces, replacesManifest string
}

// committed looks up a batch's manifest for in's file: done when this content is committed (or was, and
// was replaced since), the commit a replace replaces, or a *ConflictError when another file's content is
// committed and replace is off.
func (s *Steps) committed(ctx context.Context, in StepInput, merchant string, batch int64) (lookup, error) {
	key := ManifestKey(merchant, batch)
	m, mTag, err := s.readManifest(ctx, key)
	if err != nil {
		return lookup{}, err
	}
	switch {
	case m == nil:
		return lookup{}, nil
	case m.replacedCommit(in) != nil && m.Source.ETag != in.File.ETag:
		h := m.replacedCommit(in)
		return lookup{done: true, reason: fmt.Sprintf("this content was committed (by execution %s), and replaced since by %s (etag %s)",
			h.Execution, m.Source.URL(), m.Source.ETag)}, nil
	case in.Replace:
		// A replace of the committed file by itself publishes its Parquet again: the repair of a batch
		// whose partition objects were lost or changed (settle verify names it).
		return lookup{replaces: m.Source.ETag, replacesManifest: mTag}, nil
	case m.Source.ETag == in.File.ETag:
		// Committed by an earlier execution of this content, whose ledger update may have failed after
		// the commit: recording it again (the ledger ignores what it has) is what makes a restart or a
		// reprocess that ends here leave the batch in the ledger.
		if err := s.recordCommitted(ctx, key, m); err != nil {
			return lookup{}, err
		}
		// Likewise the claim that commit's Write had no chance to release: the commit is done.
		if err := s.releaseLeftover(ctx, ClaimKey(merchant, batch), m, mTag); err != nil {
			return lookup{}, err
		}
		return lookup{done: true, reason: "this content is already committed"}, nil
	default:
		return lookup{}, conflictError(in, merchant, batch, m.Source, false)
	}
}
