//go:build linux

package rie

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/testkit/reporoot"
	"github.com/paysettle/settle/internal/workflow"
)

// sampleReport is the report the events/ files describe.
const sampleReport = "testdata/sample/settlement_detail_report_batch_57.csv"

func readFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(reporoot.Of(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envFile is events/env.json, the variables `sam local invoke --env-vars` gives each function.
func envFile(t testing.TB) map[string]map[string]string {
	t.Helper()
	var env map[string]map[string]string
	if err := json.Unmarshal(readFile(t, "events/env.json"), &env); err != nil {
		t.Fatalf("events/env.json: %v", err)
	}
	return env
}

// functionEnv is a function's environment under the emulator: its events/env.json entry plus the
// test-only settings that point the AWS SDK at the fakes.
func functionEnv(t testing.TB, id, s3URL, sfnURL string) map[string]string {
	t.Helper()
	vars, ok := envFile(t)[id]
	if !ok {
		t.Fatalf("events/env.json has no %s", id)
	}
	env := map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL_S3": s3URL, "S3_FORCE_PATH_STYLE": "true",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_MAX_ATTEMPTS": "2", "AWS_XRAY_SDK_DISABLED": "true",
		"AWS_LAMBDA_FUNCTION_NAME": id, "AWS_LAMBDA_FUNCTION_TIMEOUT": "120",
	}
	if sfnURL != "" {
		env["AWS_ENDPOINT_URL_SFN"] = sfnURL
	}
	for k, v := range vars {
		env[k] = v
	}
	// No S3 Tables here: the write function commits the table in the processed bucket (the same commit
	// through the folder convention's catalog; the S3 Tables catalog is proven against moto in icetable).
	if _, ok := env["TABLE_BUCKET_ARN"]; ok {
		env["TABLE_BUCKET_ARN"] = ""
	}
	return env
}

func TestStarter(t *testing.T) {
	vars := envFile(t)["StarterFunction"]
	raw := vars["RAW_BUCKET"]
	s3 := newFakeS3(t, raw)
	report := readFile(t, sampleReport)
	etag := s3.put(t, raw, local.RawKey(sampleReport), report)
	sfn := newFakeSFN(t)
	e := startEmulator(t, "starter", functionEnv(t, "StarterFunction", s3.url, sfn.url))
	event := readFile(t, "events/starter.json")
	var sqs events.SQSEvent
	if err := json.Unmarshal(event, &sqs); err != nil {
		t.Fatal(err)
	}

	failures := func(body []byte) []string {
		t.Helper()
		if fe, failed := asError(body); failed {
			t.Fatalf("the starter failed the whole batch: %s: %s", fe.ErrorType, fe.ErrorMessage)
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("the starter's answer is not an events.SQSEventResponse: %v: %s", err, body)
		}
		var ids []string
		for _, f := range resp.BatchItemFailures {
			ids = append(ids, f.ItemIdentifier)
		}
		return ids
	}

	// A new file: one execution, named by the ETag, with the file as input; the message is done.
	if ids := failures(e.invoke(t, event)); len(ids) != 0 {
		t.Errorf("new file: the starter asks to retry %v", ids)
	}
	name := workflow.ExecutionName(etag)
	// The event's version id travels in the input: an overwritten key's version is read by it.
	want, _ := json.Marshal(workflow.ExecutionInput{File: workflow.FileRef{Bucket: raw, Key: local.RawKey(sampleReport), ETag: etag, Size: int64(len(report)),
		VersionID: "8mQ5cW1xk2BGHd3QJ2y4uQw1t0ZpV9aE"}})
	sfn.set(func(f *fakeSFN) {
		x, ok := f.executions[name]
		if len(f.executions) != 1 || !ok {
			t.Fatalf("executions %v, want one named %s", f.executions, name)
		}
		if x.StateMachineArn != vars["STATE_MACHINE_ARN"] || x.Input != string(want) {
			t.Errorf("StartExecution(%s, %s), want (%s, %s)", x.StateMachineArn, x.Input, vars["STATE_MACHINE_ARN"], want)
		}
		x.Status = "SUCCEEDED"
		f.calls = nil
	})

	// The same event again (SQS delivers at least once): a duplicate, acknowledged, nothing started.
	if ids := failures(e.invoke(t, event)); len(ids) != 0 {
		t.Errorf("duplicate delivery: the starter asks to retry %v", ids)
	}
	sfn.set(func(f *fakeSFN) {
		if len(f.executions) != 1 || !reflect.DeepEqual(f.calls, []string{"StartExecution", "DescribeExecution"}) {
			t.Errorf("duplicate delivery: calls %v, executions %d; want StartExecution, DescribeExecution and no new execution", f.calls, len(f.executions))
		}
		f.failWith = "ServiceUnavailable"
	})

	// Step Functions down: only this message goes back to the queue (ReportBatchItemFailures).
	if ids := failures(e.invoke(t, event)); !reflect.DeepEqual(ids, []string{sqs.Records[0].MessageId}) {
		t.Errorf("Step Functions down: the starter asks to retry %v, want [%s]", ids, sqs.Records[0].MessageId)
	}
	sfn.set(func(f *fakeSFN) { f.failWith = "" })

	// Not an SQS event at all: the runtime refuses it with the decoder's error type.
	fe, failed := asError(e.invoke(t, []byte(`"not an SQS event"`)))
	if !failed || fe.ErrorType != "UnmarshalTypeError" {
		t.Errorf("a malformed event: %+v, want errorType UnmarshalTypeError", fe)
	}
	checkMetrics(t, e.out.String(), vars["METRICS_NAMESPACE"])
}

// stepResult compares a step's answer with the result the state machine passes the next step
// (or the local engine's). Arrival times (S3's Last-Modified) differ by nature and are compared for
// presence only.
func stepResult(t *testing.T, step string, got []byte, want any) {
	t.Helper()
	if fe, failed := asError(got); failed {
		t.Fatalf("%s failed: %s: %s", step, fe.ErrorType, fe.ErrorMessage)
	}
	var g, w map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s answered %s: %v", step, got, err)
	}
	wb, _ := json.Marshal(want)
	_ = json.Unmarshal(wb, &w)
	_, gHas := g["arrived"]
	_, wHas := w["arrived"]
	if gHas != wHas {
		t.Errorf("%s: arrived present %v, want %v", step, gHas, wHas)
	}
	delete(g, "arrived")
	delete(w, "arrived")
	// Snapshot ids are random: the write's commit of the Iceberg table is compared without them.
	for _, m := range []map[string]any{g, w} {
		if tc, ok := m["table"].(map[string]any); ok {
			if id, _ := tc["snapshotId"].(float64); id == 0 {
				t.Errorf("%s: the table commit %v names no snapshot", step, tc)
			}
			delete(tc, "snapshotId")
		}
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s answered\n  %s\nwant\n  %s", step, got, wb)
	}
}

func stepEvent(t *testing.T, step string) (workflow.StepInput, []byte) {
	t.Helper()
	b := readFile(t, "events/"+step+".json")
	var in workflow.StepInput
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	return in, b
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// localWrite is the write step's result for the sample report, from the local engine: the same
// definition and handlers in process.
func localWrite(t *testing.T, rawBucket string) *workflow.WriteResult {
	t.Helper()
	env, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := env.Run(t.Context(), filepath.Join(reporoot.Of(t), sampleReport))
	if res.Status != local.Succeeded {
		t.Fatalf("local run: %s %s", res.Status, res.Error)
	}
	hist, err := env.Engine.History(res.Execution)
	if err != nil {
		t.Fatal(err)
	}
	var w *workflow.WriteResult
	for _, e := range hist {
		if e.Type == "TaskStateExited" && e.StateExitedEventDetails.Name == "Write" {
			var out struct{ Write *workflow.WriteResult }
			if err := json.Unmarshal([]byte(e.StateExitedEventDetails.Output), &out); err != nil {
				t.Fatal(err)
			}
			w = out.Write
		}
	}
	if w == nil {
		t.Fatal("the local run has no write result")
	}
	return w
}

// TestSteps runs check, validate, transform and write one after the other on one fake S3, each with
// its events/ file, and checks that each answers exactly what the next step's event carries (so the
// events are what the state machine passes, and the chain is what `settle run` computes), then the
// error type of a bad input per step.
func TestSteps(t *testing.T) {
	env := envFile(t)
	raw, processed := env["CheckFunction"]["RAW_BUCKET"], env["CheckFunction"]["PROCESSED_BUCKET"]
	s3 := newFakeS3(t, raw, processed)
	report := readFile(t, sampleReport)
	etag := s3.put(t, raw, local.RawKey(sampleReport), report)
	sum := md5.Sum(report)
	if etag != hex.EncodeToString(sum[:]) {
		t.Fatalf("the fake's ETag %s is not the MD5 %x", etag, sum)
	}
	checkIn, checkEvent := stepEvent(t, "check")
	validateIn, validateEvent := stepEvent(t, "validate")
	transformIn, transformEvent := stepEvent(t, "transform")
	writeIn, writeEvent := stepEvent(t, "write")
	if checkIn.File.ETag != etag {
		t.Fatalf("events/check.json is for etag %s, the sample report's is %s", checkIn.File.ETag, etag)
	}
	start := func(t *testing.T, dir string) *emulator {
		e := startEmulator(t, dir, functionEnv(t, functionID(dir), s3.url, ""))
		t.Cleanup(func() { checkMetrics(t, e.out.String(), env[functionID(dir)]["METRICS_NAMESPACE"]) })
		return e
	}

	t.Run("check", func(t *testing.T) {
		e := start(t, "check")
		stepResult(t, "check", e.invoke(t, checkEvent), validateIn.Check)

		missingFile := checkIn
		missingFile.File.Key = "incoming/missing.csv"
		fe, failed := asError(e.invoke(t, mustJSON(missingFile)))
		if !failed || fe.ErrorType != "InvalidFileError" {
			t.Errorf("check of a missing object: %+v, want errorType InvalidFileError", fe)
		}
	})
	t.Run("check without its environment", func(t *testing.T) {
		fnEnv := functionEnv(t, "CheckFunction", s3.url, "")
		delete(fnEnv, "RAW_BUCKET")
		e := startEmulator(t, "check", fnEnv)
		// The function's main refuses to start; Lambda reports that as Runtime.ExitError, this
		// emulator as a failed init (HTTP 502) with main's message in the function's output.
		status, body := e.post(t, checkEvent)
		t.Logf("check without RAW_BUCKET: HTTP %d %s", status, body)
		if status != http.StatusBadGateway || !strings.Contains(e.out.String(), "RAW_BUCKET and PROCESSED_BUCKET must be set") {
			t.Errorf("check without RAW_BUCKET: HTTP %d %s, want a failed init naming RAW_BUCKET:\n%s", status, body, e.out)
		}
	})
	t.Run("validate", func(t *testing.T) {
		e := start(t, "validate")
		stepResult(t, "validate", e.invoke(t, validateEvent), transformIn.Validate)
		if _, ok := s3.get(t, processed, transformIn.Validate.ReportKey); !ok {
			t.Errorf("validate wrote no report at %s", transformIn.Validate.ReportKey)
		}

		bad := readFile(t, "testdata/bad/settlement_detail_report_batch_91_bad_rows.csv")
		key := local.RawKey("settlement_detail_report_batch_91_bad_rows.csv")
		badETag := s3.put(t, raw, key, bad)
		in := workflow.StepInput{Execution: workflow.ExecutionName(badETag), File: workflow.FileRef{Bucket: raw, Key: key, ETag: badETag, Size: int64(len(bad))}}
		fe, failed := asError(e.invoke(t, mustJSON(in)))
		if !failed || fe.ErrorType != "ValidationError" || !strings.Contains(fe.ErrorMessage, workflow.RejectedPrefix) {
			t.Errorf("validate of a report with bad rows: %+v, want errorType ValidationError naming the rejects", fe)
		}
		if _, ok := s3.get(t, processed, workflow.RejectsKey(nil, badETag)); !ok {
			t.Errorf("validate wrote no rejects at %s", workflow.RejectsKey(nil, badETag))
		}
	})
	t.Run("transform", func(t *testing.T) {
		e := start(t, "transform")
		stepResult(t, "transform", e.invoke(t, transformEvent), writeIn.Transform)
		if _, ok := s3.get(t, processed, writeIn.Transform.StagingKey); !ok {
			t.Errorf("transform staged nothing at %s", writeIn.Transform.StagingKey)
		}

		noValidate := transformIn
		noValidate.Validate = nil
		fe, failed := asError(e.invoke(t, mustJSON(noValidate)))
		if !failed || fe.ErrorType != "InvalidFileError" {
			t.Errorf("transform without the validate result: %+v, want errorType InvalidFileError", fe)
		}
	})
	t.Run("write", func(t *testing.T) {
		e := start(t, "write")
		// The Parquet the transform staged here: its footer names this stack's raw bucket and policy, so
		// its bytes (which write publishes as they are) differ from the local run's.
		staged, ok := s3.get(t, processed, writeIn.Transform.StagingKey)
		if !ok {
			t.Fatalf("nothing staged at %s", writeIn.Transform.StagingKey)
		}
		body := e.invoke(t, writeEvent)
		want := localWrite(t, raw)
		for i := range want.Partitions {
			want.Partitions[i].Bytes, want.Partitions[i].ETag = int64(len(staged)), func() string { h := md5.Sum(staged); return hex.EncodeToString(h[:]) }()
		}
		stepResult(t, "write", body, want)
		var got workflow.WriteResult
		_ = json.Unmarshal(body, &got)
		for _, p := range got.Partitions {
			b, ok := s3.get(t, processed, p.Key)
			if !ok || int64(len(b)) != p.Bytes || !bytes.HasPrefix(b, []byte("PAR1")) {
				t.Errorf("partition %s: %d bytes in S3, the result says %d", p.Key, len(b), p.Bytes)
			}
		}
		manifest, ok := s3.get(t, processed, got.ManifestKey)
		var m workflow.Manifest
		if !ok || json.Unmarshal(manifest, &m) != nil || m.Source.ETag != etag || m.Counts.RowsWritten != got.RowsWritten {
			t.Errorf("manifest %s: %s", got.ManifestKey, manifest)
		}
		if _, ok := s3.get(t, processed, writeIn.Transform.StagingKey); ok {
			t.Errorf("write left the staging object %s", writeIn.Transform.StagingKey)
		}

		// Another file's content for the committed batch, without replace: a conflict.
		other := writeIn
		other.File.ETag = strings.Repeat("0", 32)
		fe, failed := asError(e.invoke(t, mustJSON(other)))
		if !failed || fe.ErrorType != "ConflictError" {
			t.Errorf("write of a different file for a committed batch: %+v, want errorType ConflictError", fe)
		}
	})
}

// functionID is the template's logical id of functions/<dir>.
func functionID(dir string) string { return strings.ToUpper(dir[:1]) + dir[1:] + "Function" }

// The metrics the dashboard and alarms may use (template.yaml; internal/deploy checks that side),
// with their dimension sets.
var emittedMetrics = map[string][]string{
	"FilesStarted": {""}, "DuplicateDeliveries": {""}, "FilesSucceeded": {""}, "RowsWritten": {""},
	"IgnoredMessages": {""}, "RetriedMessages": {""}, "DeferredMessages": {""},
	"RowsRejected": {""}, "BytesProcessed": {""}, "FileAge": {""},
	"FilesFailed":  {"", "ErrorName"},
	"StepDuration": {"Step"},
	// The batches function: the aggregate, and per merchant account.
	"MissingBatches": {"", "Provider,MerchantAccount"}, "HoursSinceLastBatch": {"", "Provider,MerchantAccount"},
	"TableFindings": {""},                                                  // the table's consistency check
	"RepairsQueued": {""}, "BatchesRepaired": {""}, "RepairNotFound": {""}, // gaps that repair themselves
	// The report intake.
	"WebhookRejected": {"", "Reason"}, "ReportsQueued": {""}, "NotificationsSkipped": {"", "Reason"},
	"ReportsFetched": {""}, "ReportBytes": {""}, "FetchFailed": {"", "Reason"},
}

// checkMetrics reads the Embedded Metric Format lines a function wrote and checks that they use the
// namespace its environment names (the MetricsNamespace parameter) and only the metrics, dimension
// sets and Step values the template's dashboard and alarms are written for.
func checkMetrics(t *testing.T, out, namespace string) {
	t.Helper()
	var n int
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, `{"_aws"`) {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Errorf("an EMF line is not JSON: %v: %s", err, line)
			continue
		}
		var aws struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name string }
			}
		}
		b, _ := json.Marshal(doc["_aws"])
		_ = json.Unmarshal(b, &aws)
		for _, d := range aws.CloudWatchMetrics {
			n++
			if d.Namespace != namespace {
				t.Errorf("EMF namespace %q, want METRICS_NAMESPACE %q", d.Namespace, namespace)
			}
			for _, m := range d.Metrics {
				sets, ok := emittedMetrics[m.Name]
				if !ok {
					t.Errorf("the function emits %s, which the dashboard and alarms do not know", m.Name)
					continue
				}
				for _, dims := range d.Dimensions {
					set := strings.Join(dims, ",")
					if !slicesContains(sets, set) {
						t.Errorf("%s emitted with dimensions [%s], want one of %q", m.Name, set, sets)
					}
				}
			}
		}
		if step, ok := doc["Step"].(string); ok && !slicesContains([]string{"Check", "Validate", "Transform", "Write"}, step) {
			t.Errorf("EMF Step = %q", step)
		}
	}
	if n == 0 {
		t.Errorf("the function wrote no Embedded Metric Format line")
	}
}

func slicesContains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
