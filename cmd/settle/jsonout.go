package main

import (
	"io"
	"time"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

// What the operator commands print with --json: the values their text prints, from ops's types, in the
// operator's words (local paths locally, s3:// addresses on a stack). A command that reports one thing
// prints one JSON object; one that reports a list prints one object per line (none for an empty list),
// as executions --json and batches --json do.

// statusJSON is what status --json prints.
type statusJSON struct {
	// Where is the header of the text: "Data folder settle-data" or "Stack settle in eu-west-1 (…)";
	// Stack is set on a stack.
	Where string     `json:"where"`
	Stack *stackJSON `json:"stack,omitempty"`
	At    time.Time  `json:"at"`
	// Since is where the counts start (absent: the beginning).
	Since  *time.Time  `json:"since,omitempty"`
	Queues []queueJSON `json:"queues"`
	// Counts has every execution status: executions started since Since, and for RUNNING all running now.
	Counts map[string]int `json:"counts"`
	// Running are the running executions, oldest first (the first is the oldest waiting file); Failed
	// those that failed, timed out or were aborted since Since, newest first.
	Running []executionJSON `json:"running"`
	Failed  []failedJSON    `json:"failed"`
	// Unresolved counts the failed executions no later execution of the same file has processed.
	Unresolved int `json:"unresolved"`
}

type stackJSON struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	Status string `json:"status"`
}

type queueJSON struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Waiting  int64  `json:"waiting"`
	InFlight int64  `json:"in_flight"`
	Meaning  string `json:"meaning,omitempty"`
}

// failedJSON is a failed execution of status: ProcessedBy names the later execution of the same file
// that succeeded, when one did (nothing is left to do for it).
type failedJSON struct {
	executionJSON
	ProcessedBy string `json:"processed_by,omitempty"`
}

func toStatusJSON(op operator, st *ops.Status) statusJSON {
	j := statusJSON{Where: op.where(st), At: st.At.UTC(), Queues: []queueJSON{}, Counts: map[string]int{},
		Running: []executionJSON{}, Failed: []failedJSON{}, Unresolved: st.Unresolved()}
	if st.Stack.Name != "" {
		j.Stack = &stackJSON{Name: st.Stack.Name, Region: st.Stack.Region, Status: st.Stack.Status}
	}
	if !st.Since.IsZero() {
		since := st.Since.UTC()
		j.Since = &since
	}
	for _, q := range st.Queues {
		j.Queues = append(j.Queues, queueJSON{Name: q.Name, URL: q.URL, Waiting: q.Visible, InFlight: q.InFlight, Meaning: queueMeaning(op, q.Name)})
	}
	for _, s := range states.Statuses {
		j.Counts[s] = st.Counts[s]
	}
	for _, x := range st.Running {
		j.Running = append(j.Running, toJSON(op, x))
	}
	for _, x := range st.Failed {
		j.Failed = append(j.Failed, failedJSON{executionJSON: toJSON(op, x), ProcessedBy: st.Resolved[x.Name]})
	}
	return j
}

// actionJSON is what redrive --json and reprocess --json print for each restart: the line of the text's
// table and, when the operator ran it to its end (locally), its result as settle run --json prints it.
type actionJSON struct {
	// Execution is the execution asked for, File its file.
	Execution string           `json:"execution,omitempty"`
	File      workflow.FileRef `json:"file"`
	// Outcome is redriven, restarted, started, duplicate, skipped or failed; with DryRun what would be
	// done (nothing was changed).
	Outcome string `json:"outcome"`
	DryRun  bool   `json:"dry_run,omitempty"`
	// Target is the execution that was (or would be) redriven or started: the text's RUNS AS.
	Target string `json:"target,omitempty"`
	Note   string `json:"note,omitempty"`
	Error  string `json:"error,omitempty"`
	// Advice is what can let a rejected file through, for a redrive refused because of it.
	Advice string            `json:"advice,omitempty"`
	Result *local.FileResult `json:"result,omitempty"`
}

func toActionJSON(op operator, a action, dry bool) actionJSON {
	j := actionJSON{Execution: a.Execution, File: a.File, Outcome: a.Outcome, DryRun: dry, Target: a.Target, Note: op.text(a.Note)}
	if a.Err != nil {
		j.Error = op.text(a.Err.Error())
	}
	if a.result != nil {
		r := fileJSON(op, *a.result)
		j.Result = &r
	}
	return j
}

// printActionsJSON prints one JSON object per action, a line each.
func printActionsJSON(w io.Writer, op operator, actions []action, dry bool) error {
	for _, a := range actions {
		if err := printJSON(w, toActionJSON(op, a, dry)); err != nil {
			return err
		}
	}
	return nil
}

// dlqMessageJSON is a dead-letter message as dlq list --json (a line each) and dlq show --json print it.
type dlqMessageJSON struct {
	Queue     string           `json:"queue"`
	ID        string           `json:"id"`
	Sent      time.Time        `json:"sent"`
	Receives  int              `json:"receives"`
	Kind      string           `json:"kind"`
	File      workflow.FileRef `json:"file"`
	Execution string           `json:"execution,omitempty"`
	Status    string           `json:"status,omitempty"` // status-change: FAILED, TIMED_OUT, ABORTED
	Step      string           `json:"step,omitempty"`   // rejected: the step that rejected the file
	Error     string           `json:"error,omitempty"`
	Cause     string           `json:"cause,omitempty"`
	Action    string           `json:"action,omitempty"`  // what the definition (or the fetch function) advises
	Request   *fetch.Request   `json:"request,omitempty"` // a fetch DLQ message's report request
	// show only: what can let a rejected file through, the command that redrives the message, and the
	// message itself (with the JSON inside its strings laid out).
	Fix     string `json:"fix,omitempty"`
	Redrive string `json:"redrive,omitempty"`
	Body    any    `json:"body,omitempty"`
}

func toDLQJSON(op operator, m ops.DLQMessage) dlqMessageJSON {
	return dlqMessageJSON{Queue: m.Queue, ID: m.ID, Sent: m.Sent.UTC(), Receives: m.Receives, Kind: m.Kind, File: m.File,
		Execution: m.Execution, Status: m.Status, Step: m.Step, Error: m.Error, Cause: op.text(m.Message()), Action: dlqAction(op, m),
		Request: m.Request}
}

// toDLQShowJSON is a message with what dlq show adds to it.
func toDLQShowJSON(op operator, m ops.DLQMessage) dlqMessageJSON {
	j := toDLQJSON(op, m)
	j.Fix = dlqFix(op, m)
	j.Redrive, _ = dlqRedrive(op, m)
	j.Body = local.Structured(m.Body)
	return j
}

// dlqFix is what can let a message's rejected file through, when the remedy fits its error ("" if not).
func dlqFix(op operator, m ops.DLQMessage) string {
	if m.Kind != ops.KindRejected || !workflow.IsDataError(m.Error) {
		return ""
	}
	if fix, fitted := remedy(op, m.Execution, m.Error, m.Remedy); fitted {
		return fix
	}
	return ""
}

// dlqRedrive is the command that redrives a message, and what it does ("" when none does).
func dlqRedrive(op operator, m ops.DLQMessage) (command, does string) {
	switch m.Kind {
	case ops.KindObjectCreated:
		return op.command("dlq redrive ingest"), "moves the whole ingest DLQ back to the ingest queue"
	case ops.KindRejected, ops.KindStatusChange:
		return op.command("dlq redrive failed") + " " + m.ID, "restarts the file's execution, then deletes the message"
	}
	return "", ""
}
