package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/testkit/storefault"
	"github.com/paysettle/settle/internal/workflow"
)

// clock is a fake time source: Sleep advances Now and records the wait, so retries cost no real time.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newClock() *clock { return &clock{now: time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return ctx.Err()
}

func (c *clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

type env struct {
	*local.Env
	t      *testing.T
	clock  *clock
	faults *storefault.Bucket
	dir    string
	files  string
}

func newEnv(t *testing.T, conf workflow.Config) *env {
	t.Helper()
	return newEnvWith(t, conf, local.Options{})
}

// newEnvWith is newEnv with more options; the processed bucket is always behind the fault injector.
func newEnvWith(t *testing.T, conf workflow.Config, opts local.Options) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), faults: &storefault.Bucket{}, dir: scratchDir(t), files: t.TempDir()}
	opts.Config, opts.Clock = conf, e.clock
	opts.WrapProcessed = func(b store.Bucket) store.Bucket { e.faults.Bucket = b; return e.faults }
	var err error
	e.Env, err = local.Open(e.dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Whatever a scenario did, the table it leaves agrees with its manifests (commits in flight aside).
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		if rep := verify(t, e.faults.Bucket, e.clock.Now()); !rep.OK() {
			t.Errorf("settle verify after the scenario: %v", rep.Findings)
		}
	})
	return e
}

// report writes a generated report to a local file.
func (e *env) report(name string, cfg gen.Config) string {
	e.t.Helper()
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, cfg); err != nil {
		e.t.Fatal(err)
	}
	return e.file(name, buf.Bytes())
}

func (e *env) file(name string, data []byte) string {
	e.t.Helper()
	p := filepath.Join(e.files, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) run(path string) local.FileResult {
	e.t.Helper()
	return e.Run(e.t.Context(), path)
}

// tree lists the processed bucket with each object's ETag: what a user sees, and what must not change.
func (e *env) tree() map[string]string {
	e.t.Helper()
	objs, err := e.Processed.List(e.t.Context(), "")
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]string{}
	for _, o := range objs {
		m[o.Key] = o.ETag
	}
	return m
}

func (e *env) keys(prefix string) []string {
	var out []string
	for k := range e.tree() {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (e *env) dlq() []map[string]any {
	e.t.Helper()
	paths, _ := filepath.Glob(filepath.Join(e.dir, "dlq", "*.json"))
	sort.Strings(paths)
	var out []map[string]any
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			e.t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			e.t.Fatalf("%s: %v", p, err)
		}
		out = append(out, m)
	}
	return out
}

func (e *env) notifications() []map[string]string {
	b, err := os.ReadFile(filepath.Join(e.dir, "notifications.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]string
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var n local.Notification
		if err := json.Unmarshal(line, &n); err != nil {
			e.t.Fatal(err)
		}
		msg := string(n.Message) // a JSON document as it is; a text message unquoted
		var text string
		if json.Unmarshal(n.Message, &text) == nil {
			msg = text
		}
		out = append(out, map[string]string{"time": n.Time, "topic": n.Topic, "subject": n.Subject, "message": msg})
	}
	return out
}

func (e *env) manifest(merchant string, batch int64) workflow.Manifest {
	e.t.Helper()
	rc, err := e.Processed.Open(e.t.Context(), workflow.ManifestKey(merchant, batch), "")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	var m workflow.Manifest
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func want(t *testing.T, r local.FileResult, status string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %s (%s), want %s", r.File, r.Status, r.Error, status)
	}
}

func TestHappyPath(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	r := e.run(e.report("batch1.csv", gen.Config{Rows: 5000, Seed: 1, Batch: 1}))
	want(t, r, local.Succeeded)
	if r.RowsWritten != 5000 || r.RowsRejected != 0 || len(r.Partitions) != 1 || r.Partitions[0] != "settlement_date=2024-05-03" {
		t.Errorf("result = %+v", r)
	}
	m := e.manifest("PaySettleShopEU", 1)
	c := m.Counts
	if c.DataRows != 5000 || c.RowsWritten != 5000 || c.RowsRejected != 0 || c.Header != 1 || c.Lines != 5001 {
		t.Errorf("manifest counts = %+v", c)
	}
	if m.Execution != r.Execution || m.Source.Key != "incoming/batch1.csv" || m.SettlementDate != "2024-05-03" || len(m.Currencies) == 0 {
		t.Errorf("manifest = %+v", m)
	}
	if got := e.keys("settlement_lines/"); len(got) != 1 || got[0] != "settlement_lines/settlement_date=2024-05-03/adyen_PaySettleShopEU_1.parquet" {
		t.Errorf("parquet objects = %v", got)
	}
	if got := e.keys("_staging/"); len(got) != 0 {
		t.Errorf("staging left behind: %v", got)
	}
	if len(e.dlq()) != 0 || len(e.notifications()) != 0 {
		t.Error("a successful file reached the DLQ or the topic")
	}
	hist, _ := e.Engine.History(r.Execution)
	var types []string
	for _, ev := range hist {
		if ev.Type == "LambdaFunctionSucceeded" || ev.Type == "ExecutionSucceeded" {
			types = append(types, ev.Type)
		}
	}
	if len(types) != 5 {
		t.Errorf("history: %v", types)
	}
}

func TestSameFileTwiceIsDuplicate(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	path := e.report("batch1.csv", gen.Config{Rows: 300, Seed: 2, Batch: 1})
	want(t, e.run(path), local.Succeeded)
	before := e.tree()
	r := e.run(path)
	want(t, r, local.Duplicate)
	if r.RowsWritten != 0 {
		t.Errorf("a duplicate wrote %d rows", r.RowsWritten)
	}
	if after := e.tree(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("outputs changed on a duplicate delivery:\n%v\n%v", before, after)
	}
	// The same content under another key is the same execution, so also a duplicate.
	data, _ := os.ReadFile(path)
	want(t, e.run(e.file("copy of batch1.csv", data)), local.Duplicate)
	if after := e.tree(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Error("outputs changed for a copy under another key")
	}
}

func TestBatchesOutOfOrder(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	late := e.report("batch9.csv", gen.Config{Rows: 200, Seed: 3, Batch: 9, SettlementDate: "2024-05-09"})
	early := e.report("batch8.csv", gen.Config{Rows: 200, Seed: 4, Batch: 8, SettlementDate: "2024-05-08"})
	want(t, e.run(late), local.Succeeded)
	want(t, e.run(early), local.Succeeded)
	got := e.keys("settlement_lines/")
	wantKeys := []string{
		"settlement_lines/settlement_date=2024-05-08/adyen_PaySettleShopEU_8.parquet",
		"settlement_lines/settlement_date=2024-05-09/adyen_PaySettleShopEU_9.parquet",
	}
	if fmt.Sprint(got) != fmt.Sprint(wantKeys) {
		t.Errorf("objects = %v", got)
	}
}

func TestRegeneratedBatchConflicts(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	want(t, e.run(e.report("batch5.csv", gen.Config{Rows: 200, Seed: 5, Batch: 5})), local.Succeeded)
	before := e.tree()
	r := e.run(e.report("batch5-regenerated.csv", gen.Config{Rows: 210, Seed: 6, Batch: 5}))
	want(t, r, local.Failed)
	if !strings.HasPrefix(r.Error, "ConflictError") {
		t.Errorf("error = %s", r.Error)
	}
	if after := e.tree(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Error("the committed batch changed")
	}
	dlq := e.dlq()
	if len(dlq) != 1 || dlq[0]["error"] != "ConflictError" || dlq[0]["step"] != "Check" || !strings.Contains(dlq[0]["cause"].(string), "incoming/batch5.csv") ||
		!strings.Contains(dlq[0]["action"].(string), "reprocess it with replace") {
		t.Errorf("dlq = %v", dlq)
	}
	if n := e.notifications(); len(n) != 1 || n[0]["subject"] != "Settlement file rejected at Check: ConflictError" {
		t.Errorf("notifications = %v", n)
	}
}

// replace uploads the report at path and runs an operator's replace of its batch with it, as execution
// name, which must succeed.
func (e *env) replace(path, name string) {
	e.t.Helper()
	obj, err := e.Upload(e.t.Context(), path, local.RawKey(path))
	if err != nil {
		e.t.Fatal(err)
	}
	input, _ := json.Marshal(workflow.ExecutionInput{File: workflow.FileRef{Bucket: "raw", Key: obj.Key, ETag: obj.ETag, Size: obj.Size}, Replace: true})
	if _, err := e.Engine.Start(e.t.Context(), name, input); err != nil {
		e.t.Fatal(err)
	}
	if x, _ := e.Engine.Describe(name); x.Status != "SUCCEEDED" {
		e.t.Fatalf("replace: %s %s %s", x.Status, x.Error, x.Cause)
	}
}

func TestReplaceRegeneratedBatch(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	want(t, e.run(e.report("batch5.csv", gen.Config{Rows: 200, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"})), local.Succeeded)
	e.replace(e.report("batch5-regenerated.csv", gen.Config{Rows: 210, Seed: 6, Batch: 5, SettlementDate: "2024-05-04"}), "replace-batch5")
	if got := e.keys("settlement_lines/"); len(got) != 1 || !strings.Contains(got[0], "settlement_date=2024-05-04") {
		t.Errorf("after replace, objects = %v (the old partition's copy must go)", got)
	}
	m := e.manifest("PaySettleShopEU", 5)
	if m.Replaced == nil || m.Replaced.Key != "incoming/batch5.csv" || m.Counts.RowsWritten != 210 {
		t.Errorf("manifest after replace = %+v", m)
	}
}

func TestValidationFailure(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	data, err := os.ReadFile("../settlement/testdata/bad_rows.csv")
	if err != nil {
		t.Fatal(err)
	}
	r := e.run(e.file("bad.csv", data))
	want(t, r, local.Failed)
	if r.RowsRejected != 13 || !strings.HasPrefix(r.Error, "ValidationError") {
		t.Errorf("result = %+v", r)
	}
	if got := e.keys("settlement_lines/"); len(got) != 0 {
		t.Errorf("parquet written for a rejected file: %v", got)
	}
	rejects := e.keys("rejected/")
	if len(rejects) != 1 {
		t.Fatalf("rejects = %v", rejects)
	}
	rc, _ := e.Processed.Open(t.Context(), rejects[0], "")
	b, _ := io.ReadAll(rc)
	rc.Close()
	if n := bytes.Count(b, []byte("\n")); n != 13 {
		t.Errorf("rejects file has %d lines, want 13", n)
	}
	dlq := e.dlq()
	if len(dlq) != 1 || dlq[0]["step"] != "Validate" || dlq[0]["error"] != "ValidationError" {
		t.Errorf("dlq = %v", dlq)
	}
	if len(e.notifications()) != 1 {
		t.Error("no alert for a rejected file")
	}
	if got := e.keys("_staging/"); len(got) != 0 {
		t.Errorf("staging for a rejected file: %v", got)
	}
}

func TestTransientFaultsAreRetried(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	e.faults.Set("_staging/", 2)   // transform's upload fails twice
	e.faults.Set("_manifests/", 1) // write's manifest fails once
	r := e.run(e.report("batch1.csv", gen.Config{Rows: 300, Seed: 7, Batch: 1}))
	want(t, r, local.Succeeded)
	if e.faults.Hits() != 3 {
		t.Errorf("faults hit %d times, want 3", e.faults.Hits())
	}
	sleeps := e.clock.Sleeps()
	if len(sleeps) != 3 {
		t.Fatalf("retries waited %v, want 3 waits", sleeps)
	}
	for i, d := range sleeps {
		max := []time.Duration{2 * time.Second, 4 * time.Second, 2 * time.Second}[i] // FULL jitter: uniform in [0, 2s×2^n)
		if d < 0 || d >= max {
			t.Errorf("wait %d = %s, want in [0, %s)", i, d, max)
		}
	}
	if len(e.dlq()) != 0 {
		t.Error("a retried fault reached the DLQ")
	}
}

func TestPersistentWriteFaultThenRedrive(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	e.faults.Set("settlement_lines/", -1)
	r := e.run(e.report("batch1.csv", gen.Config{Rows: 300, Seed: 8, Batch: 1}))
	want(t, r, local.Failed)
	x, _ := e.Engine.Describe(r.Execution)
	if x.FailedState != "Write" || x.Error != "TransientError" || x.RedriveStatus != "REDRIVABLE" {
		t.Fatalf("failed at %s with %s (%s)", x.FailedState, x.Error, x.RedriveStatus)
	}
	if len(e.dlq()) != 0 || len(e.notifications()) != 0 {
		t.Error("an infrastructure failure went through the data-error path")
	}
	e.faults.Set("settlement_lines/", 0)
	rr, err := e.Redrive(t.Context(), r.Execution)
	if err != nil {
		t.Fatal(err)
	}
	want(t, rr, local.Succeeded)
	if got := e.keys("settlement_lines/"); len(got) != 1 {
		t.Errorf("objects after redrive = %v", got)
	}
	if got := e.keys("_manifests/"); len(got) != 1 {
		t.Errorf("manifests after redrive = %v", got)
	}
	if m := e.manifest("PaySettleShopEU", 1); m.Counts.RowsWritten != 300 {
		t.Errorf("manifest = %+v", m.Counts)
	}
}

// TestCrashBeforeManifest: the Parquet object is published but the manifest write fails for good, as if the
// function died between the two. The batch is not committed; a rerun converges to one copy.
func TestCrashBeforeManifest(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	e.faults.Set("_manifests/", -1)
	r := e.run(e.report("batch1.csv", gen.Config{Rows: 300, Seed: 9, Batch: 1}))
	want(t, r, local.Failed)
	if got := e.keys("settlement_lines/"); len(got) != 1 {
		t.Fatalf("the crash left %v", got)
	}
	before := e.tree()
	e.faults.Set("_manifests/", 0)
	rr, err := e.Redrive(t.Context(), r.Execution)
	if err != nil {
		t.Fatal(err)
	}
	want(t, rr, local.Succeeded)
	after := e.tree()
	for k, v := range before {
		if strings.HasPrefix(k, "settlement_lines/") && after[k] != v {
			t.Errorf("%s was rewritten with different bytes", k)
		}
	}
	if got := e.keys("settlement_lines/"); len(got) != 1 {
		t.Errorf("objects = %v", got)
	}
}

// TestWriteRetriedAfterCommit: Step Functions retries a Write whose answer was lost after it committed
// and removed the staging. The retry returns the committed result; nothing is written again.
func TestWriteRetriedAfterCommit(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	r := e.run(e.report("batch1.csv", gen.Config{Rows: 300, Seed: 10, Batch: 1}))
	want(t, r, local.Succeeded)
	x, err := e.Engine.Describe(r.Execution)
	if err != nil {
		t.Fatal(err)
	}
	var in workflow.StepInput // the final state holds every step's result, as Write's input did
	if err := json.Unmarshal(x.Output, &in); err != nil {
		t.Fatal(err)
	}
	in.Execution = r.Execution
	if keys := e.keys("_staging/"); len(keys) != 0 {
		t.Fatalf("staging left after the commit: %v", keys)
	}
	before := e.tree()
	res, err := e.Steps.Write(t.Context(), in)
	if err != nil {
		t.Fatalf("retried Write: %v", err)
	}
	if res.RowsWritten != 300 || len(res.Partitions) != 1 || res.Partitions[0].Key != in.Transform.Partitions[0].Key {
		t.Errorf("retried Write = %+v", res)
	}
	if after := e.tree(); !maps.Equal(before, after) {
		t.Error("the retried Write changed the processed bucket")
	}
}

func TestConcurrentDeliveriesWithDuplicates(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	var paths []string
	for i := 0; i < 10; i++ {
		paths = append(paths, e.report(fmt.Sprintf("batch%d.csv", 100+i), gen.Config{Rows: 100, Seed: uint64(100 + i), Batch: int64(100 + i)}))
	}
	var objs []store.Object
	for _, p := range paths {
		obj, err := e.Upload(t.Context(), p, local.RawKey(p))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, obj)
	}
	results := make([]local.FileResult, 20)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = e.Deliver(t.Context(), objs[i%10])
		}(i)
	}
	wg.Wait()
	count := map[string]int{}
	for _, r := range results {
		count[r.Status]++
	}
	if count[local.Succeeded] != 10 || count[local.Duplicate] != 10 {
		t.Errorf("statuses = %v", count)
	}
	if got := e.keys("settlement_lines/"); len(got) != 10 {
		t.Errorf("objects = %d, want 10", len(got))
	}
	list, _ := e.Engine.List()
	if len(list) != 10 {
		t.Errorf("executions = %d, want 10", len(list))
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, workflow.Config{MaxFileBytes: 10_000})
	tests := []struct {
		name, body, want string
	}{
		{"empty.csv", "", "the file is empty (0 bytes)"},
		{"big.csv", strings.Repeat("x", 10_001), "over the limit of 10000"},
		{"header only.csv", "Company Account,Merchant Account\n", "missing required columns"},
		{"Ünïcode report +%20 (1).csv", "\x00\x01binary", "binary content"},
	}
	for _, tt := range tests {
		r := e.run(e.file(tt.name, []byte(tt.body)))
		if r.Status != local.Failed || !strings.Contains(r.Error, tt.want) || !strings.HasPrefix(r.Error, "InvalidFileError") {
			t.Errorf("%s: %s %s, want InvalidFileError containing %q", tt.name, r.Status, r.Error, tt.want)
		}
	}
	if n := len(e.dlq()); n != len(tests) {
		t.Errorf("dlq has %d messages, want %d", n, len(tests))
	}
	if got := e.keys("settlement_lines/"); len(got) != 0 {
		t.Errorf("output for bad input: %v", got)
	}
}

func TestStarterEdgeCases(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	var results []workflow.StartResult
	st := *e.Starter
	st.OnResult = func(r workflow.StartResult) { results = append(results, r) }
	path := e.report("Settlement report +%20 ü.csv", gen.Config{Rows: 50, Seed: 10, Batch: 3})
	obj, err := e.Upload(t.Context(), path, local.RawKey(path))
	if err != nil {
		t.Fatal(err)
	}
	form := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(obj.Key, "%", "%25"), "+", "%2B"), " ", "+")
	good := local.ObjectCreatedMessage(obj, e.clock.Now(), 1)
	encoded := local.ObjectCreatedMessage(store.Object{Key: form, Size: obj.Size, ETag: obj.ETag}, e.clock.Now(), 2)
	missing := local.ObjectCreatedMessage(store.Object{Key: "incoming/gone.csv", Size: 10, ETag: `"0123"`}, e.clock.Now(), 3)
	notS3 := events.SQSMessage{MessageId: "junk", Body: `{"hello":"world"}`}
	notJSON := events.SQSMessage{MessageId: "junk2", Body: `not json`}
	resp, err := st.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{good, encoded, missing, notS3, notJSON}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	got := []workflow.Outcome{}
	for _, r := range results {
		got = append(got, r.Outcome)
	}
	wantOutcomes := []workflow.Outcome{workflow.Started, workflow.Duplicate, workflow.Started, workflow.Ignored, workflow.Ignored}
	if fmt.Sprint(got) != fmt.Sprint(wantOutcomes) {
		t.Errorf("outcomes = %v, want %v", got, wantOutcomes)
	}
	if results[1].File.Key != obj.Key {
		t.Errorf("form-encoded key resolved to %q, want %q", results[1].File.Key, obj.Key)
	}
	x, _ := e.Engine.Describe(results[2].Execution)
	if x.Status != "FAILED" || x.Error != "InvalidFileError" || !strings.Contains(x.Cause, "does not exist") {
		t.Errorf("missing object: %s %s %s", x.Status, x.Error, x.Cause)
	}
}
