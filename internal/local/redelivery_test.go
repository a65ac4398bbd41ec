package local_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/workflow"
)

// TestRejectedFileStaysRejected: the event of a rejected file delivered again (a re-upload of the same
// bytes, an EventBridge replay, an ingest DLQ moved back) neither redrives its execution nor starts a new
// one, and alerts no one a second time; the file stays rejected until an operator reprocesses it.
func TestRejectedFileStaysRejected(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	data, err := os.ReadFile("../settlement/testdata/bad_rows.csv")
	if err != nil {
		t.Fatal(err)
	}
	path := e.file("bad.csv", data)
	first := e.run(path)
	want(t, first, local.Failed)
	obj, err := e.Raw.Head(t.Context(), local.RawKey(path))
	if err != nil {
		t.Fatal(err)
	}
	var outcome workflow.Outcome
	st := *e.Starter
	st.OnResult = func(r workflow.StartResult) { outcome = r.Outcome }
	for i := range 3 {
		msg := local.ObjectCreatedMessage(obj, e.clock.Now(), 100+i)
		if _, err := st.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{msg}}); err != nil {
			t.Fatal(err)
		}
		if outcome != workflow.Rejected {
			t.Errorf("delivery %d: outcome %s, want %s", i+2, outcome, workflow.Rejected)
		}
	}
	list, _ := e.Engine.List()
	if len(list) != 1 || list[0].RedriveCount != 0 || list[0].Status != "FAILED" || list[0].Error != "ValidationError" {
		t.Errorf("executions %+v, want the one FAILED ValidationError execution, never redriven", list)
	}
	if d, n := e.dlq(), e.notifications(); len(d) != 1 || len(n) != 1 {
		t.Errorf("%d DLQ messages and %d alerts, want the first rejection's one each", len(d), len(n))
	}
	if r := e.Deliver(t.Context(), obj); r.Status != local.Failed || !strings.HasPrefix(r.Error, "ValidationError") {
		t.Errorf("a re-delivery reports %s %s, want the rejection (FAILED ValidationError)", r.Status, r.Error)
	}
}
