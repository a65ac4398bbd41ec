package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/testkit/motostack"
	"github.com/paysettle/settle/internal/workflow"
	"github.com/paysettle/settle/statemachine"
)

// TestUICommand: settle ui on the walkthrough's data folder serves the console on a loopback port and
// prints its URL; an execution's page says what to do in the commands' words (the reprocess that lets
// the rejected file through, with this folder's --data); Ctrl-C (the context) stops it with exit status 0.
func TestUICommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if out, code := localCLI("run", "--data", data, "../../testdata/bad/settlement_detail_report_batch_91_bad_rows.csv"); code != 1 {
		t.Fatalf("run: %d\n%s", code, out)
	}
	r, w := io.Pipe()
	a, _, errb := testApp(engine.RealClock{}, false, "")
	a.stdout = w
	ctx, stop := context.WithCancel(t.Context())
	code := make(chan int, 1)
	go func() { code <- execute(ctx, []string{"ui", "--data", data}, a); w.Close() }()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("no URL printed: %v; stderr %s", err, errb)
	}
	go io.Copy(io.Discard, r)
	url := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/`).FindString(line)
	if url == "" || !strings.HasPrefix(line, "Serving the console of data folder "+data+" at ") {
		t.Fatalf("printed %q", line)
	}
	resp, err := http.Get(url + "executions/" + badRows)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The cause laid out as show lays it out: a problem a line.
	if want := "rejected:\n  13 of 15 rows rejected (at most 0 allowed)"; !strings.Contains(string(body), want) {
		t.Errorf("the cause is not laid out: it lacks %q", want)
	}
	page := strings.Join(strings.Fields(string(body)), " ")
	for _, want := range []string{
		"settle reprocess " + badRows + " --data " + data + " --max-rejected 13 commits the others",
		"Data folder " + data,
		filepath.Join(data, "raw", "incoming", "settlement_detail_report_batch_91_bad_rows.csv"),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	stop()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d: %s", c, errb)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("settle ui did not stop")
	}
	if errb.Len() > 0 {
		t.Errorf("stderr: %s", errb)
	}
}

// TestUIListenAddress: --listen must be host:port; only a loopback host goes without a warning.
func TestUIListenAddress(t *testing.T) {
	out, code := localCLI("ui", "--listen", "8080", "--data", t.TempDir())
	if code != exitUsage || !strings.Contains(out, `--listen "8080": want host:port, such as 127.0.0.1:0`) {
		t.Errorf("exit %d: %s", code, out)
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "localhost": true, "::1": true, "127.0.0.2": true, "0.0.0.0": false, "": false, "::": false, "192.168.1.4": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
	if u := consoleURL(&net.TCPAddr{IP: net.IPv4zero, Port: 8080}); u != "http://127.0.0.1:8080/" {
		t.Errorf("a wildcard address opens at %s", u)
	}
	if w := exposedWarning(&net.TCPAddr{IP: net.IPv4zero, Port: 8080}); !strings.Contains(w, "0.0.0.0:8080, which is not a loopback address") {
		t.Errorf("warning %q", w)
	}
}

// serveUI runs settle with args (a ui command) until the test ends, and returns the URL it printed.
func serveUI(t *testing.T, a *app, args ...string) string {
	t.Helper()
	r, w := io.Pipe()
	a.stdout = w
	ctx, stop := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- execute(ctx, args, a); w.Close() }()
	t.Cleanup(func() {
		stop()
		if c := <-code; c != 0 {
			t.Errorf("settle %v: exit %d", args, c)
		}
	})
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("no URL printed: %v", err)
	}
	go io.Copy(io.Discard, r)
	u := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/`).FindString(line)
	if u == "" {
		t.Fatalf("printed %q", line)
	}
	return u
}

func fetchPage(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, b)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// TestAWSUI: settle aws ui serves the console of a stack (the fake AWS): its executions, a rejected
// file's page in the stack's words (s3:// addresses, settle aws commands), and a reprocess from that page
// that starts the -p1 execution through Step Functions (whose fake runs it to its end at once).
func TestAWSUI(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{Policy: settlement.DefaultPolicy()})
	if r := w.Arrive(t, "incoming/settlement_detail_report_batch_91.csv", read(t, "../../testdata/bad/settlement_detail_report_batch_91_bad_rows.csv")); r.Status != local.Failed {
		t.Fatalf("batch 91: %s", r.Status)
	}
	// The stack runs a definition with a state this build's lacks: the graph is the stack's.
	var def map[string]any
	if err := json.Unmarshal(statemachine.Definition, &def); err != nil {
		t.Fatal(err)
	}
	def["States"].(map[string]any)["Archived"] = map[string]any{"Type": "Pass", "End": true}
	b, _ := json.Marshal(def)
	w.Fake.Definition = string(b)
	a, _, errb := testApp(secondsClock{w.Clock}, false, "")
	u := serveUI(t, a, "aws", "ui", "--stack", "settle")
	list := fetchPage(t, u)
	for _, want := range []string{"Stack settle in eu-west-1", `data-name="` + badRows + `"`, "s3://raw/incoming/settlement_detail_report_batch_91.csv"} {
		if !strings.Contains(list, want) {
			t.Errorf("the executions page lacks %q", want)
		}
	}
	page := fetchPage(t, u+"executions/"+badRows)
	if !strings.Contains(page, `data-state="Archived"`) {
		t.Error("the graph is not drawn from the stack's definition")
	}
	// The fake's S3 holds no validation report, so the advice is the general one, as settle aws show gives it.
	if want := "Once its cause is fixed, settle aws reprocess " + badRows + " runs this file again."; !strings.Contains(page, want) {
		t.Errorf("the execution page lacks %q:\n%s", want, page)
	}
	token := regexp.MustCompile(`name="token" value="([0-9a-f]{64})"`).FindStringSubmatch(page)
	if token == nil {
		t.Fatal("no token in the page")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(u+"executions/"+badRows+"/reprocess", map[string][]string{"token": {token[1]}, "max_rejected": {"13"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/executions/"+badRows+"-p1?done=started" {
		t.Fatalf("reprocess: %d to %q", resp.StatusCode, loc)
	}
	after := fetchPage(t, u+"executions/"+badRows+"-p1")
	if !strings.Contains(after, `id="status">SUCCEEDED<`) || !strings.Contains(after, "at most 13 rejected rows") {
		t.Errorf("the reprocess's page:\n%s", after)
	}
	if errb.Len() > 0 {
		t.Errorf("stderr: %s", errb)
	}
}

// TestAWSUIDefinitionUnreadable: a stack whose definition cannot be read or drawn gets the graph of the
// definition this settle was built with, and a warning saying so.
func TestAWSUIDefinitionUnreadable(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{Policy: settlement.DefaultPolicy()})
	w.Fake.Definition = "not a definition"
	a, _, errb := testApp(secondsClock{w.Clock}, false, "")
	u := serveUI(t, a, "aws", "ui")
	if want := "the graph shows the definition this settle was built with"; !strings.Contains(errb.String(), want) {
		t.Errorf("stderr %q lacks %q", errb, want)
	}
	fetchPage(t, u)
}

// TestAWSUIQueues: on a stack, the console lists the ingest DLQ's event with the failed files, and moves
// it back to the ingest queue only once its plan is confirmed, as settle aws dlq redrive ingest does.
func TestAWSUIQueues(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{Policy: settlement.DefaultPolicy()})
	lost := w.Upload(t, "incoming/settlement_detail_report_batch_57.csv", read(t, "../../testdata/sample/settlement_detail_report_batch_57.csv"))
	w.Fake.Send(w.Stack["IngestDeadLetterQueueUrl"], local.ObjectCreatedMessage(lost, w.Clock.Now(), 1).Body)
	a, _, _ := testApp(secondsClock{w.Clock}, false, "")
	u := serveUI(t, a, "aws", "ui")
	page := fetchPage(t, u+"failed")
	if !strings.Contains(page, `data-queue="ingest-dlq"`) || !strings.Contains(page, `id="redrive-ingest-dlq"`) {
		t.Fatalf("the failed page lacks the ingest DLQ's message or its restart:\n%s", page)
	}
	token := regexp.MustCompile(`name="token" value="([0-9a-f]{64})"`).FindStringSubmatch(page)[1]
	plan := postRedrive(t, u, map[string][]string{"token": {token}, "queue": {"ingest-dlq"}})
	for _, want := range []string{"<strong>settle aws dlq redrive ingest</strong>", "Would move 1 message(s) from " + w.Fake.QueueARN("settle-ingest-dlq") + " to", "Move them back to the ingest queue?"} {
		if !strings.Contains(plan, want) {
			t.Errorf("the plan lacks %q:\n%s", want, plan)
		}
	}
	if n := len(w.Fake.Messages(w.Stack["IngestDeadLetterQueueUrl"])); n != 1 {
		t.Fatalf("the plan moved the message: %d left", n)
	}
	done := postRedrive(t, u, map[string][]string{"token": {token}, "queue": {"ingest-dlq"}, "confirm": {"yes"}})
	if !strings.Contains(done, "Moving 1 message(s) from "+w.Fake.QueueARN("settle-ingest-dlq")+" to "+w.Fake.QueueARN("settle-ingest")) {
		t.Errorf("the move:\n%s", done)
	}
	if n, m := len(w.Fake.Messages(w.Stack["IngestDeadLetterQueueUrl"])), len(w.Fake.Messages(w.Stack["IngestQueueUrl"])); n != 0 || m != 1 {
		t.Errorf("after the move: %d in the ingest DLQ, %d in the ingest queue", n, m)
	}
}

// postRedrive posts form to the console at u's dead-letter restart, wants 200, and returns the page with
// its white space folded.
func postRedrive(t *testing.T, u string, form map[string][]string) string {
	t.Helper()
	resp, err := http.PostForm(u+"failed/redrive", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d: %s", resp.StatusCode, b)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// TestAWSUIFetchQueue: on a stack, the console lists the fetch DLQ's dead letters and sends their report
// requests back to the webhook queue only once the plan is confirmed, keeping a message that carries no
// request, as settle aws dlq redrive fetch does.
func TestAWSUIFetchQueue(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	req57 := `{"merchantAccount":"AcmeShopNL","fileName":"settlement_detail_report_batch_57.csv","url":"https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv","live":false}`
	w.Fake.Send(w.Stack["FetchDeadLetterQueueUrl"], `{"request":`+req57+`,"key":"incoming/AcmeShopNL/settlement_detail_report_batch_57.csv","reason":"unauthorized","status":401,"error":"unauthorized (HTTP 401)","action":"check the report user's username and password","attempts":1,"time":"2024-05-07T08:00:00Z"}`)
	w.Fake.Send(w.Stack["FetchDeadLetterQueueUrl"], `{"body":"{\"not\":\"a request\"}","reason":"malformed","error":"x","action":"y","time":"2024-05-07T08:00:00Z"}`)
	a, _, _ := testApp(secondsClock{w.Clock}, false, "")
	u := serveUI(t, a, "aws", "ui")
	page := fetchPage(t, u+"failed")
	if strings.Count(page, `data-queue="fetch-dlq"`) < 2 || !strings.Contains(page, "settlement_detail_report_batch_57.csv") {
		t.Fatalf("the failed page lacks the fetch DLQ's messages:\n%s", page)
	}
	token := regexp.MustCompile(`name="token" value="([0-9a-f]{64})"`).FindStringSubmatch(page)[1]
	plan := postRedrive(t, u, map[string][]string{"token": {token}, "queue": {"fetch-dlq"}})
	if !strings.Contains(plan, "<strong>settle aws dlq redrive fetch</strong>") || !strings.Contains(plan, "Send them back to the webhook queue") {
		t.Errorf("the plan:\n%s", plan)
	}
	if n, m := len(w.Fake.Messages(w.Stack["FetchDeadLetterQueueUrl"])), len(w.Fake.Messages(w.Stack["WebhookQueueUrl"])); n != 2 || m != 0 {
		t.Fatalf("the plan changed the queues: %d in the fetch DLQ, %d in the webhook queue", n, m)
	}
	done := postRedrive(t, u, map[string][]string{"token": {token}, "queue": {"fetch-dlq"}, "confirm": {"yes"}})
	if !strings.Contains(done, "requeued") || !strings.Contains(done, "skipped") {
		t.Errorf("the redrive:\n%s", done)
	}
	if got := w.Fake.Messages(w.Stack["WebhookQueueUrl"]); len(got) != 1 || got[0] != req57 {
		t.Errorf("webhook queue after the redrive: %q, want the request as the receiver queues it", got)
	}
	if left := w.Fake.Messages(w.Stack["FetchDeadLetterQueueUrl"]); len(left) != 1 || !strings.Contains(left[0], `"reason":"malformed"`) {
		t.Errorf("fetch DLQ after the redrive: %q, want only the message without a request", left)
	}
}

// TestAWSUIMoto: settle aws ui on template.yaml deployed to moto: the stack's running execution (moto's
// executions never run) is listed as the oldest waiting file, and its page draws the graph from the
// definition moto's Step Functions holds, the template's, without a warning.
func TestAWSUIMoto(t *testing.T) {
	s := motostack.New(t)
	name := workflow.ExecutionName(s.Upload(t, "incoming/settlement_detail_report_batch_57.csv", read(t, "../../testdata/sample/settlement_detail_report_batch_57.csv")))
	if d := s.RunStarter(t); len(d) != 1 || d[0].Retry {
		t.Fatalf("the starter: %+v", d)
	}
	a, _, errb := testApp(engine.RealClock{}, false, "")
	u := serveUI(t, a, "aws", "ui", "--stack", s.Name)
	list := fetchPage(t, u)
	for _, want := range []string{"Stack " + s.Name + " in " + motostack.Region, `data-name="` + name + `" data-status="RUNNING"`, "Oldest waiting file: <a href=\"/executions/" + name + "\">s3://" + s.Out("RawBucket") + "/incoming/settlement_detail_report_batch_57.csv</a>"} {
		if !strings.Contains(list, want) {
			t.Errorf("the executions page lacks %q:\n%s", want, list)
		}
	}
	page := fetchPage(t, u+"executions/"+name)
	if n := strings.Count(page, `<g class="state `); n != 19 {
		t.Errorf("%d states drawn from moto's definition, want 19", n)
	}
	if !strings.Contains(page, `<meta http-equiv="refresh" content="2">`) {
		t.Error("the running execution's page does not reload itself")
	}
	if errb.Len() > 0 {
		t.Errorf("stderr: %s", errb)
	}
}
