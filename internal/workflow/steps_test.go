package workflow_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// The handlers called directly, on folder buckets, for what the scenario tests through the engine
// (internal/local) do not pin one by one.

type fixture struct {
	t         *testing.T
	raw, proc *store.Dir
	steps     *workflow.Steps
	now       time.Time
}

func newFixture(t *testing.T, conf workflow.Config) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)}
	var err error
	if f.raw, err = store.NewDir("raw", t.TempDir(), store.WithoutSync()); err != nil {
		t.Fatal(err)
	}
	if f.proc, err = store.NewDir("processed", t.TempDir(), store.WithoutSync()); err != nil {
		t.Fatal(err)
	}
	conf.RawBucket, conf.ProcessedBucket = "raw", "processed"
	f.steps = &workflow.Steps{Raw: f.raw, Processed: f.proc, Conf: conf, Stage: parquetfile.Stage,
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return f.now }}
	return f
}

// upload puts data under incoming/name and returns the step input the starter would build.
func (f *fixture) upload(name string, data []byte) workflow.StepInput {
	f.t.Helper()
	obj, err := f.raw.Put(f.t.Context(), "incoming/"+name, data)
	if err != nil {
		f.t.Fatal(err)
	}
	return workflow.StepInput{Execution: workflow.ExecutionName(obj.ETag),
		File: workflow.FileRef{Bucket: "raw", Key: obj.Key, ETag: obj.ETag, Size: obj.Size}}
}

func report(t *testing.T, cfg gen.Config) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := gen.Write(&b, cfg); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// through runs Check, Validate and Transform, as the definition chains them, and returns Write's input.
func (f *fixture) through(in workflow.StepInput) workflow.StepInput {
	f.t.Helper()
	ctx := f.t.Context()
	var err error
	if in.Check, err = f.steps.Check(ctx, in); err != nil {
		f.t.Fatalf("Check: %v", err)
	}
	if in.Validate, err = f.steps.Validate(ctx, in); err != nil {
		f.t.Fatalf("Validate: %v", err)
	}
	if in.Transform, err = f.steps.Transform(ctx, in); err != nil {
		f.t.Fatalf("Transform: %v", err)
	}
	return in
}

func (f *fixture) keys(prefix string) []string {
	f.t.Helper()
	objs, err := f.proc.List(f.t.Context(), prefix)
	if err != nil {
		f.t.Fatal(err)
	}
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Key)
	}
	return ks
}

func TestCheck(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, workflow.Config{MaxFileBytes: 100_000})
	good := report(t, gen.Config{Rows: 30, Seed: 1, Batch: 7})
	invalid := func(name string, data []byte, reason string) {
		t.Helper()
		_, err := f.steps.Check(ctx, f.upload(name, data))
		var ife *workflow.InvalidFileError
		if !errors.As(err, &ife) || !strings.Contains(ife.Reason, reason) || !strings.HasSuffix(ife.File, name) {
			t.Errorf("%s: Check = %v, want an InvalidFileError saying %q", name, err, reason)
		}
	}
	invalid("empty.csv", nil, "empty (0 bytes)")
	invalid("big.csv", bytes.Repeat([]byte("x"), 100_001), "over the limit of 100000 (MAX_FILE_BYTES, the stack's MaxFileBytes parameter)")
	invalid("binary.csv", []byte("\x00\x01\x02"), "binary content")
	invalid("other.csv", []byte("a,b,c\n1,2,3\n"), "not an Adyen settlement details report")

	in := f.upload("batch7.csv", good)
	res, err := f.steps.Check(ctx, in)
	if err != nil || res.AlreadyProcessed || res.MerchantAccount != "PaySettleShopEU" || res.BatchNumber != 7 || res.Size != int64(len(good)) {
		t.Fatalf("Check(new file) = %+v, %v", res, err)
	}

	wrongBucket := in
	wrongBucket.File.Bucket = "elsewhere"
	if _, err := f.steps.Check(ctx, wrongBucket); err == nil || !strings.Contains(err.Error(), `not in the raw bucket "raw"`) {
		t.Errorf("Check(other bucket) = %v", err)
	}

	// The object was overwritten after its event, in a bucket that keeps no versions: the file cannot be
	// read any more, and an operator is told (never skipped in silence).
	stale := in
	stale.File.ETag = "0123456789abcdef0123456789abcdef"
	var ife *workflow.InvalidFileError
	if _, err := f.steps.Check(ctx, stale); !errors.As(err, &ife) || !strings.Contains(ife.Reason, "upload the report again under a name of its own") {
		t.Errorf("Check(overwritten, no versions) = %v, want an InvalidFileError", err)
	}
}

// versionedDir is a folder bucket that also keeps every version it was given by putVersion, like S3
// with versioning on (store.Versioned).
type versionedDir struct {
	*store.Dir
	versions map[string][]byte
}

func (v *versionedDir) putVersion(t *testing.T, key, id string, data []byte) workflow.FileRef {
	t.Helper()
	obj, err := v.Put(t.Context(), key, data)
	if err != nil {
		t.Fatal(err)
	}
	v.versions[id] = data
	return workflow.FileRef{Bucket: v.Name(), Key: key, ETag: obj.ETag, Size: obj.Size, VersionID: id}
}

func (v *versionedDir) HeadVersion(_ context.Context, key, id string) (store.Object, error) {
	data, ok := v.versions[id]
	if !ok {
		return store.Object{}, store.ErrNotFound
	}
	sum := md5.Sum(data)
	return store.Object{Key: key, Size: int64(len(data)), ETag: hex.EncodeToString(sum[:])}, nil
}

func (v *versionedDir) OpenVersionRange(ctx context.Context, key, id, ifMatch string, off, n int64) (io.ReadCloser, error) {
	obj, err := v.HeadVersion(ctx, key, id)
	if err != nil {
		return nil, err
	}
	if ifMatch != "" && obj.ETag != ifMatch {
		return nil, store.ErrPreconditionFailed
	}
	data := v.versions[id]
	end := int64(len(data))
	if off > end {
		off = end
	}
	if n < end-off {
		end = off + n
	}
	return io.NopCloser(bytes.NewReader(data[off:end])), nil
}

// TestOverwrittenKeyReadsTheEventsVersion: two different reports uploaded under one key, the second
// before the first's execution read it. The first's execution reads its own version and commits its
// batch; the second's commits its own: both contents end committed.
func TestOverwrittenKeyReadsTheEventsVersion(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, workflow.Config{})
	raw := &versionedDir{Dir: f.raw, versions: map[string][]byte{}}
	f.steps.Raw = raw
	first := raw.putVersion(t, "incoming/report.csv", "v1", report(t, gen.Config{Rows: 30, Seed: 1, Batch: 7}))
	second := raw.putVersion(t, "incoming/report.csv", "v2", report(t, gen.Config{Rows: 31, Seed: 2, Batch: 8}))
	for i, file := range []workflow.FileRef{first, second} {
		in := workflow.StepInput{Execution: workflow.ExecutionName(file.ETag), File: file}
		var err error
		if in.Check, err = f.steps.Check(ctx, in); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
		if in.Check.Overwritten != (i == 0) || in.Check.AlreadyProcessed {
			t.Fatalf("check %d = %+v, want overwritten %v and work to do", i, in.Check, i == 0)
		}
		if in.Validate, err = f.steps.Validate(ctx, in); err != nil {
			t.Fatalf("validate %d: %v", i, err)
		}
		if in.Transform, err = f.steps.Transform(ctx, in); err != nil {
			t.Fatalf("transform %d: %v", i, err)
		}
		res, err := f.steps.Write(ctx, in)
		if err != nil || res.RowsWritten != int64(30+i) {
			t.Fatalf("write %d = %+v, %v", i, res, err)
		}
		m, err := workflow.ReadManifest(ctx, f.proc, workflow.ManifestKey("PaySettleShopEU", int64(7+i)))
		if err != nil || m.Source != file {
			t.Errorf("batch %d committed from %+v, %v; want %+v", 7+i, m, err, file)
		}
	}
}

func TestCheckFindsTheCommit(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, workflow.Config{})
	first := f.through(f.upload("batch7.csv", report(t, gen.Config{Rows: 30, Seed: 1, Batch: 7})))
	if _, err := f.steps.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	if res, err := f.steps.Check(ctx, workflow.StepInput{Execution: "again", File: first.File}); err != nil || !res.AlreadyProcessed {
		t.Errorf("Check(committed content) = %+v, %v", res, err)
	}
	other := f.upload("batch7-regenerated.csv", report(t, gen.Config{Rows: 31, Seed: 2, Batch: 7}))
	_, err := f.steps.Check(ctx, other)
	var ce *workflow.ConflictError
	if !errors.As(err, &ce) || ce.Committing || ce.CommittedETag != first.File.ETag || !strings.Contains(ce.Error(), "was already committed from s3://raw/incoming/batch7.csv") {
		t.Errorf("Check(regenerated) = %v, want a ConflictError naming the committed file", err)
	}
	other.Replace = true
	if res, err := f.steps.Check(ctx, other); err != nil || res.AlreadyProcessed || res.ReplacesETag != first.File.ETag {
		t.Errorf("Check(regenerated, replace) = %+v, %v", res, err)
	}
}

// putClaim writes a claim as an earlier Write of in would have left it.
func (f *fixture) putClaim(in workflow.StepInput, at time.Time) {
	f.t.Helper()
	c := workflow.Claim{Version: workflow.ClaimVersion, Source: in.File, Execution: in.Execution, ClaimedAt: at,
		Publish: in.Transform.Partitions[0].Key}
	body, _ := json.Marshal(c)
	if _, err := f.proc.Put(f.t.Context(), workflow.ClaimKey(in.Validate.MerchantAccount, in.Validate.BatchNumber), body); err != nil {
		f.t.Fatal(err)
	}
}

// A Write that died holding the claim is resumed by its own rerun; another version without replace
// conflicts with it, naming it as being committed.
func TestWriteAgainstAClaim(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, workflow.Config{})
	a := f.through(f.upload("batch7.csv", report(t, gen.Config{Rows: 30, Seed: 1, Batch: 7})))
	b := f.through(f.upload("batch7-regenerated.csv", report(t, gen.Config{Rows: 31, Seed: 2, Batch: 7})))
	f.putClaim(a, f.now)

	_, err := f.steps.Write(ctx, b)
	var ce *workflow.ConflictError
	if !errors.As(err, &ce) || !ce.Committing || ce.CommittedETag != a.File.ETag || !strings.Contains(ce.Error(), "is being committed from") {
		t.Fatalf("Write(other version) = %v, want a ConflictError against the claim", err)
	}
	if got := f.keys(workflow.StagingKey(b.File.ETag, b.Execution)); len(got) != 0 {
		t.Errorf("the loser's staging is left: %v", got)
	}
	res, err := f.steps.Write(ctx, a)
	if err != nil || res.RowsWritten != 30 {
		t.Fatalf("Write(claimant) = %+v, %v", res, err)
	}
	if got := f.keys(workflow.ClaimPrefix); len(got) != 0 {
		t.Errorf("claims left after the commit: %v", got)
	}
}

// A claim the committed file left behind (its release was lost) does not hold up a replace.
func TestWriteReplacesPastALeftoverClaim(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, workflow.Config{})
	a := f.through(f.upload("batch7.csv", report(t, gen.Config{Rows: 30, Seed: 1, Batch: 7, SettlementDate: "2024-05-03"})))
	if _, err := f.steps.Write(ctx, a); err != nil {
		t.Fatal(err)
	}
	f.putClaim(a, f.now)
	in := f.upload("batch7-regenerated.csv", report(t, gen.Config{Rows: 31, Seed: 2, Batch: 7, SettlementDate: "2024-05-04"}))
	in.Replace = true
	b := f.through(in)
	res, err := f.steps.Write(ctx, b)
	if err != nil {
		t.Fatalf("Write(replace) = %v", err)
	}
	if len(res.Removed) != 1 || res.Removed[0] != a.Transform.Partitions[0].Key {
		t.Errorf("removed %v, want the replaced partition", res.Removed)
	}
	data, _, err := f.proc.Get(ctx, res.ManifestKey)
	if err != nil {
		t.Fatal(err)
	}
	var m workflow.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Source.ETag != b.File.ETag || m.Replaced == nil || m.Replaced.ETag != a.File.ETag {
		t.Errorf("manifest source %s, replaced %v", m.Source.ETag, m.Replaced)
	}
	if got := f.keys(""); strings.Contains(strings.Join(got, " "), workflow.ClaimPrefix) || strings.Contains(strings.Join(got, " "), workflow.StagingPrefix) {
		t.Errorf("left behind: %v", got)
	}
}

// Transform refuses a file that reads differently than at validation (its counts differ).
func TestTransformChecksTheCounts(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, workflow.Config{})
	in := f.upload("batch7.csv", report(t, gen.Config{Rows: 30, Seed: 1, Batch: 7}))
	var err error
	if in.Check, err = f.steps.Check(ctx, in); err != nil {
		t.Fatal(err)
	}
	if in.Validate, err = f.steps.Validate(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Validate.Counts.DataRows++
	_, err = f.steps.Transform(ctx, in)
	var ife *workflow.InvalidFileError
	if !errors.As(err, &ife) || !strings.Contains(ife.Reason, "read differently than at validation") {
		t.Errorf("Transform = %v", err)
	}
	if _, err := f.steps.Transform(ctx, workflow.StepInput{Execution: in.Execution, File: in.File}); !errors.As(err, &ife) {
		t.Errorf("Transform without the validate result = %v", err)
	}
}

// A rerun of Validate after a configuration fix that makes every row valid removes the rejects the first
// run wrote: the batch no longer has any.
func TestValidateRerunRemovesStaleRejects(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, workflow.Config{})
	in := f.upload("batch7.csv", report(t, gen.Config{Rows: 30, Seed: 1, Batch: 7, Zone: "CST"})) // ambiguous until configured
	var err error
	if in.Check, err = f.steps.Check(ctx, in); err != nil {
		t.Fatal(err)
	}
	var ve *workflow.ValidationError
	if _, err := f.steps.Validate(ctx, in); !errors.As(err, &ve) || ve.Rejected != 30 || ve.RejectsKey == "" {
		t.Fatalf("Validate(CST unconfigured) = %v, want all 30 rows rejected", err)
	}
	if got := f.keys(workflow.RejectedPrefix); len(got) != 1 {
		t.Fatalf("rejects = %v", got)
	}
	f.steps.Conf.Read.Zones = map[string]int{"CST": -6 * 3600}
	res, err := f.steps.Validate(ctx, in)
	if err != nil || res.Counts.Rejected != 0 || res.RejectsKey != "" {
		t.Fatalf("Validate(CST=-06:00) = %+v, %v", res, err)
	}
	if got := f.keys(workflow.RejectedPrefix); len(got) != 0 {
		t.Errorf("stale rejects left: %v", got)
	}
}

// TestCheckReadsNoBatchFromACutLine: the check reads the batch from the first valid row within its first
// SniffBytes. When every row before the cut is invalid and Batch Number is the last column, the row the
// cut falls in must not be read (its batch number would be cut short): the check names no batch, and
// validation finds the right one.
func TestCheckReadsNoBatchFromACutLine(t *testing.T) {
	ctx := t.Context()
	rows, err := csv.NewReader(bytes.NewReader(report(t, gen.Config{Rows: 5, Seed: 3, Batch: 1234567}))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(rows[0], "Batch Number")
	last := func(r []string) []string { // Batch Number moved to the end
		out := append(slices.Clone(r[:col]), r[col+1:]...)
		return append(out, r[col])
	}
	csvLine := func(r []string) []byte {
		var l bytes.Buffer
		lw := csv.NewWriter(&l)
		lw.Write(r)
		lw.Flush()
		return l.Bytes()
	}
	bad := last(rows[1])
	bad[slices.Index(last(rows[0]), "Creation Date")] = "not a date"
	good := csvLine(last(rows[1]))
	// The good row starts at p, so that the cut (SniffBytes) falls after "123" of its last field 1234567.
	p := workflow.SniffBytes - (len(good) - len("1234567\n")) - 3
	var b bytes.Buffer
	b.Write(csvLine(last(rows[0])))
	for b.Len()+2*len(csvLine(bad)) < p {
		b.Write(csvLine(bad))
	}
	filler := slices.Clone(bad)
	filler[0] += strings.Repeat("x", p-b.Len()-len(csvLine(bad)))
	b.Write(csvLine(filler))
	if b.Len() != p {
		t.Fatalf("the good row starts at %d, want %d", b.Len(), p)
	}
	if got := string(append(b.Bytes(), good...)[workflow.SniffBytes-3 : workflow.SniffBytes]); got != "123" {
		t.Fatalf("the cut falls after %q, want after 123", got)
	}
	w := csv.NewWriter(&b)
	for _, r := range rows[1:] {
		w.Write(last(r))
	}
	w.Flush()
	f := newFixture(t, workflow.Config{})
	in := f.upload("cut.csv", b.Bytes())
	res, err := f.steps.Check(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.BatchNumber != 0 && res.BatchNumber != 1234567 {
		t.Errorf("the check read batch %d from a cut line", res.BatchNumber)
	}
}
