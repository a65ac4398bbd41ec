package local_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/testkit/emftest"
	"github.com/paysettle/settle/internal/testkit/storefault"
	"github.com/paysettle/settle/internal/webhook"
	"github.com/paysettle/settle/internal/workflow"
)

// syncBuffer is a bytes.Buffer safe for the engine's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// observed is what one run of every kind of outcome printed: JSON logs and EMF lines, as a function
// prints them to CloudWatch Logs.
type observed struct {
	logs    string
	metrics []*emftest.Document
	dataDir string // the data folder (for the rejects files)
	files   []string
}

// failingExecutions is a Step Functions that refuses every call, as when StartExecution is throttled.
type failingExecutions struct{}

func (failingExecutions) Start(context.Context, string, []byte) error {
	return errors.New("api error ThrottlingException: Rate exceeded")
}

func (failingExecutions) Describe(context.Context, string) (workflow.ExecutionInfo, error) {
	return workflow.ExecutionInfo{}, errors.New("api error ThrottlingException: Rate exceeded")
}

func (failingExecutions) Redrive(context.Context, string) error {
	return errors.New("api error ThrottlingException: Rate exceeded")
}

// runEveryOutcome runs files that end in every outcome the metrics distinguish: started, duplicate,
// restarted (-r1), redriven, committed, rejected for each data error, failed at a step for good.
func runEveryOutcome(t *testing.T) observed {
	o, err := runOutcomes(t)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func runOutcomes(t *testing.T) (observed, error) {
	var logs, metrics syncBuffer
	e := &env{t: t, clock: newClock(), faults: &storefault.Bucket{}, dir: t.TempDir(), files: t.TempDir()}
	var err error
	m := obs.NewMetrics(&metrics, "SettleTest").WithClock(e.clock.Now)
	e.Env, err = local.Open(e.dir, local.Options{Config: workflow.Config{}, Clock: e.clock,
		Log:           obs.NewLogger(&logs, slog.LevelInfo),
		Metrics:       m,
		WrapProcessed: func(b store.Bucket) store.Bucket { e.faults.Bucket = b; return e.faults }})
	if err != nil {
		return observed{}, err
	}
	// Each delivery runs as a Lambda invocation would, with a request id in its context.
	n := 0
	invoke := func() context.Context {
		n++
		return lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{AwsRequestID: "req-" + string(rune('a'+n))})
	}
	var files []string
	run := func(path string, status string) local.FileResult {
		files = append(files, path)
		r := e.Run(invoke(), path)
		if r.Status != status {
			t.Errorf("%s: %s (%s), want %s", path, r.Status, r.Error, status)
		}
		return r
	}
	for _, f := range []string{"settlement_detail_report_batch_57.csv", "settlement_detail_report_batch_58.csv"} {
		run(filepath.Join("..", "..", "testdata", "sample", f), local.Succeeded)
	}
	run(filepath.Join("..", "..", "testdata", "sample", "settlement_detail_report_batch_57.csv"), local.Duplicate)
	run(filepath.Join("..", "..", "testdata", "bad", "settlement_detail_report_batch_91_bad_rows.csv"), local.Failed)
	run(filepath.Join("..", "..", "testdata", "bad", "payments_export.csv"), local.Failed)
	run(e.report("batch5.csv", gen.Config{Rows: 50, Seed: 5, Batch: 5}), local.Succeeded)
	run(e.report("batch5-regenerated.csv", gen.Config{Rows: 60, Seed: 6, Batch: 5}), local.Failed) // ConflictError

	// An infrastructure failure: redriven on re-delivery within 14 days, restarted as -r1 after.
	e.faults.Set("settlement_lines/", -1)
	b7 := e.report("batch7.csv", gen.Config{Rows: 40, Seed: 7, Batch: 7})
	run(b7, local.Failed)
	run(b7, local.Failed) // redriven, fails again
	e.clock.mu.Lock()
	e.clock.now = e.clock.now.Add(15 * 24 * time.Hour)
	e.clock.mu.Unlock()
	e.faults.Set("settlement_lines/", 0)
	run(b7, local.Succeeded) // -r1
	// The scheduled batch check, two days on: batch 6 of the generated account is missing.
	e.clock.mu.Lock()
	e.clock.now = e.clock.now.Add(49 * time.Hour)
	e.clock.mu.Unlock()
	// It asks the report host for batch 6, which answers 404 (not generated yet).
	host := newAdyenStandIn(t)
	u, _ := url.Parse(host.srv.URL)
	repairIntake := e.NewIntake(local.IntakeOptions{Metrics: m,
		Policy:      fetch.Policy{Hosts: []string{u.Host}, AllowAddr: func(a netip.Addr) bool { return a.IsLoopback() }},
		Credentials: func(context.Context) (string, string, error) { return reportUser, reportPass, nil },
		TLS:         host.srv.Client().Transport.(*http.Transport).TLSClientConfig})
	if _, _, err := e.CheckBatchesRepairing(invoke(), repairIntake, host.srv.URL, nil); err != nil {
		return observed{}, err
	}

	// The starter's own outcomes: a message that is no raw-bucket event (ignored), a StartExecution that
	// fails (retried), and a message left for a later invocation when the deadline is near (deferred).
	st := *e.Starter
	junk := events.SQSMessage{MessageId: "junk", Body: `{"hello":"world"}`}
	b8 := e.report("batch8.csv", gen.Config{Rows: 10, Seed: 8, Batch: 8})
	obj, err := e.Upload(t.Context(), b8, local.RawKey(b8))
	if err != nil {
		return observed{}, err
	}
	msg := local.ObjectCreatedMessage(obj, e.clock.Now(), 8)
	st.Exec = failingExecutions{}
	if _, err := st.Handle(invoke(), events.SQSEvent{Records: []events.SQSMessage{junk, msg}}); err != nil {
		return observed{}, err
	}
	short, cancel := context.WithTimeout(invoke(), workflow.StartMargin/2)
	defer cancel()
	if resp, err := st.Handle(short, events.SQSEvent{Records: []events.SQSMessage{msg}}); err != nil || len(resp.BatchItemFailures) != 1 {
		t.Errorf("Handle with %v left = %+v, %v; want the message deferred", workflow.StartMargin/2, resp, err)
	}

	// The report intake: a webhook request with wrong credentials is refused and counted (its log lines,
	// which concern no file, are checked in internal/webhook).
	in := e.NewIntake(local.IntakeOptions{Secret: webhook.Secret{Username: "adyen-webhook", Password: "right", HMACKey: strings.Repeat("AB", 32)},
		Metrics: obs.NewMetrics(&metrics, "SettleTest").WithClock(e.clock.Now), Log: obs.Discard()})
	auth := http.Header{}
	auth.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("adyen-webhook:wrong")))
	if resp, _, err := in.Receive(invoke(), webhook.Request{Method: http.MethodPost, Header: auth, Body: []byte("{}")}); err != nil || resp.Status != http.StatusUnauthorized {
		t.Errorf("webhook with wrong credentials: %d, %v; want 401", resp.Status, err)
	}

	docs, err := emftest.Collect(strings.NewReader(metrics.String()))
	if err != nil {
		return observed{}, err
	}
	return observed{logs: logs.String(), metrics: docs, dataDir: e.dir, files: files}, nil
}

// TestMetricsAreEmittedAsEMF: every metric of the contract, with its dimension sets, comes out of the
// handlers as a valid Embedded Metric Format document, with sensible values.
func TestMetricsAreEmittedAsEMF(t *testing.T) {
	o := runEveryOutcome(t)
	got := map[string]bool{}
	values := map[string]float64{}
	errorNames := map[string]bool{}
	steps := map[string]bool{}
	outcomes := map[string]bool{}
	for _, d := range o.metrics {
		for _, m := range d.Metrics() {
			if m.Namespace != "SettleTest" {
				t.Errorf("namespace %q", m.Namespace)
			}
			got[m.Name+"["+m.Dimensions+"]"] = true
		}
		for name, v := range d.Values {
			for _, x := range v {
				values[name] += x
			}
		}
		if s, ok := d.Members[obs.DimErrorName].(string); ok {
			errorNames[s] = true
		}
		if s, ok := d.Members[obs.DimStep].(string); ok {
			steps[s] = true
		}
		if s, ok := d.Members["outcome"].(string); ok {
			outcomes[s] = true
		}
	}
	for _, want := range []string{"FilesStarted[]", "DuplicateDeliveries[]", "FilesSucceeded[]", "FilesFailed[]", "FilesFailed[ErrorName]",
		"RowsWritten[]", "RowsRejected[]", "BytesProcessed[]", "FileAge[]", "StepDuration[Step]"} {
		if !got[want] {
			t.Errorf("metric %s was not emitted", want)
		}
	}
	for _, n := range []string{"ValidationError", "InvalidFileError", "ConflictError"} {
		if !errorNames[n] {
			t.Errorf("FilesFailed was not emitted for %s", n)
		}
	}
	for _, s := range []string{"Check", "Validate", "Transform", "Write"} {
		if !steps[s] {
			t.Errorf("StepDuration was not emitted for %s", s)
		}
	}
	for _, s := range []string{"started", "redriven", "restarted", "duplicate"} {
		if !outcomes[s] {
			t.Errorf("no starter metric with outcome %s", s)
		}
	}
	// 11 + 2000 sample rows and 50 + 40 generated rows were committed; batch 91 rejects rows.
	if values[obs.RowsWritten] != 11+2000+50+40 {
		t.Errorf("RowsWritten = %v, want %d", values[obs.RowsWritten], 11+2000+50+40)
	}
	if values[obs.FilesSucceeded] != 4 || values[obs.FilesFailed] != 3 {
		t.Errorf("FilesSucceeded = %v, FilesFailed = %v, want 4 and 3", values[obs.FilesSucceeded], values[obs.FilesFailed])
	}
	if values[obs.RowsRejected] == 0 || values[obs.BytesProcessed] == 0 || values[obs.FileAge] <= 0 {
		t.Errorf("RowsRejected %v, BytesProcessed %v, FileAge %v", values[obs.RowsRejected], values[obs.BytesProcessed], values[obs.FileAge])
	}
}

// TestLogsCarryContextAndNoRowData: every line a step logs names the execution, step, bucket, key, etag
// and request id (and the batch once known), and no line holds a row, a cell value or a reference.
func TestLogsCarryContextAndNoRowData(t *testing.T) {
	o := runEveryOutcome(t)
	lines := strings.Split(strings.TrimSpace(o.logs), "\n")
	if len(lines) < 20 {
		t.Fatalf("only %d log lines", len(lines))
	}
	steps := map[string]bool{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		step, _ := m["step"].(string)
		steps[step] = true
		need := []string{"step", "request_id", "bucket", "key", "etag"}
		switch step {
		case "batches": // the scheduled batch check reads the processed bucket's ledgers, no file
			need = []string{"step", "request_id", "bucket"}
		case "fetch": // a report download, before the report is an object with an ETag
			need = []string{"step", "request_id", "key", "merchant"}
		case "starter":
		default:
			need = append(need, "execution")
		}
		if step == "validate" && m["msg"] == "validated" || step == "transform" || step == "write" {
			need = append(need, "batch", "merchant")
		}
		for _, k := range need {
			if v, ok := m[k]; !ok || v == "" {
				// Lines about a message that names no file, or about the rest of a batch.
				if step == "starter" && (m["msg"] == "message ignored: not an S3 Object Created event" ||
					m["msg"] == "deadline near: messages deferred to a later invocation") {
					continue
				}
				t.Errorf("no %s in %s", k, l)
			}
		}
	}
	for _, s := range []string{"starter", "check", "validate", "transform", "write"} {
		if !steps[s] {
			t.Errorf("no log line of step %s", s)
		}
	}
	// Compare with the decoded values: JSON escapes the quotes that reasons put around cell values.
	var text strings.Builder
	for _, l := range lines {
		var v any
		_ = json.Unmarshal([]byte(l), &v)
		collectStrings(v, &text)
	}
	for _, secret := range rowSecrets(t, o) {
		if strings.Contains(text.String(), secret) {
			t.Errorf("the logs hold row data %q", secret)
		}
	}
}

func collectStrings(v any, b *strings.Builder) {
	switch x := v.(type) {
	case string:
		b.WriteString(x)
		b.WriteByte('\n')
	case []any:
		for _, e := range x {
			collectStrings(e, b)
		}
	case map[string]any:
		for _, e := range x {
			collectStrings(e, b)
		}
	}
}

// rowSecrets are texts from inside the files: merchant references, PSP references, the raw text and
// reasons of rejected rows.
func rowSecrets(t *testing.T, o observed) []string {
	var out []string
	for _, f := range o.files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := csv.NewReader(bytes.NewReader(b))
		r.FieldsPerRecord = -1
		r.LazyQuotes = true
		recs, _ := r.ReadAll()
		if len(recs) < 2 {
			continue
		}
		cols := map[string]int{}
		for i, h := range recs[0] {
			cols[strings.TrimPrefix(h, "\ufeff")] = i
		}
		for _, rec := range recs[1:] {
			for _, c := range []string{"Merchant Reference", "Psp Reference", "Modification Merchant Reference"} {
				if i, ok := cols[c]; ok && i < len(rec) && len(rec[i]) >= 6 {
					out = append(out, rec[i])
				}
			}
		}
	}
	rejects, _ := filepath.Glob(filepath.Join(o.dataDir, "processed", "rejected", "*", "*", "*", "*.jsonl"))
	if len(rejects) == 0 {
		t.Fatal("no rejects file to take rejected rows from")
	}
	for _, p := range rejects {
		b, _ := os.ReadFile(p)
		for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var rj struct {
				Raw     string   `json:"raw"`
				Reasons []string `json:"reasons"`
			}
			if json.Unmarshal(l, &rj) == nil {
				out = append(out, rj.Raw)
				out = append(out, rj.Reasons...)
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d secrets to look for", len(out))
	}
	sort.Strings(out)
	return out
}

// TestTemplateMetricsAreEmitted: every metric of the custom namespace that template.yaml's dashboard or
// alarms use — with the dimension names they use — is emitted by the handlers.
func TestTemplateMetricsAreEmitted(t *testing.T) {
	path := filepath.Join("..", "..", "template.yaml")
	if _, err := os.Stat(path); os.IsNotExist(err) {
		t.Skip("template.yaml is not written yet")
	}
	used, err := templateMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(used) == 0 {
		t.Fatal("the template's dashboard and alarms use no metric of the custom namespace")
	}
	o := runEveryOutcome(t)
	emitted := map[string]bool{}
	for _, d := range o.metrics {
		for _, m := range d.Metrics() {
			emitted[m.Name+"["+m.Dimensions+"]"] = true
		}
	}
	for _, u := range used {
		if !emitted[u] {
			t.Errorf("template.yaml uses %s, which the code does not emit", u)
		}
	}
	t.Logf("template metrics, all emitted: %s", strings.Join(used, " "))
}

func TestTemplateMetricsParser(t *testing.T) {
	used, err := templateMetrics(filepath.Join("testdata", "template-metrics.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := "BytesProcessed[] FileAge[] FilesFailed[ErrorName] FilesFailed[] RowsRejected[] StepDuration[Step]"
	if got := strings.Join(used, " "); got != want {
		t.Errorf("templateMetrics = %s\nwant            %s", got, want)
	}
}
