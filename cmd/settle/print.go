package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t).Round(time.Second)
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return d.String() + " ago"
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func duration(x ops.Execution) string {
	if x.Stop.IsZero() {
		return "-"
	}
	return x.Stop.Sub(x.Start).Round(time.Millisecond).String()
}

// queueMeaning says what waits in a queue, and how to list it.
func queueMeaning(op operator, queue string) string {
	switch queue {
	case ops.QueueIngest:
		return "raw-bucket events waiting for the starter"
	case ops.QueueIngestDLQ:
		return "events the starter gave up on: " + op.command("dlq list ingest")
	case ops.QueueFailed:
		return "failed files, one message each: " + op.command("dlq list failed")
	case ops.QueueWebhook:
		return "reports Adyen announced, waiting to be downloaded"
	case ops.QueueFetchDLQ:
		return "reports that could not be downloaded, each with its reason"
	}
	return ""
}

func printStatus(w io.Writer, op operator, st *ops.Status) {
	fmt.Fprintf(w, "%s, at %s\n\n", op.where(st), ts(st.At))
	tw := table(w)
	fmt.Fprintln(tw, "QUEUE\tWAITING\tIN FLIGHT\t")
	for _, q := range st.Queues {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", q.Name, q.Visible, q.InFlight, queueMeaning(op, q.Name))
	}
	tw.Flush()
	var counts []string
	for _, s := range states.Statuses {
		if s != states.Running {
			counts = append(counts, fmt.Sprintf("%s %d", s, st.Counts[s]))
		}
	}
	since := "the beginning"
	if !st.Since.IsZero() {
		since = ts(st.Since)
	}
	fmt.Fprintf(w, "\nExecutions since %s: %s; RUNNING now %d\n", since, strings.Join(counts, ", "), st.Counts[states.Running])
	if n := len(st.Resolved); n > 0 {
		fmt.Fprintf(w, "%s since processed by a later execution of the same file.\n", plural(n, "failure was", "failures were"))
	}
	if len(st.Running) > 0 {
		x := st.Running[0]
		fmt.Fprintf(w, "Oldest waiting file: %s, running since %s (%s) as %s\n", op.file(x.File), ts(x.Start), ago(st.At, x.Start), x.Name)
	} else {
		fmt.Fprintln(w, "Oldest waiting file: none running")
	}
	if len(st.Failed) > 0 {
		fmt.Fprintf(w, "\nFailed since then (%s explains each):\n", op.command("show NAME"))
		tw := table(w)
		fmt.Fprintln(tw, "NAME\tSTATUS\tSTOPPED\tFILE\tERROR\tSINCE")
		for _, x := range st.Failed {
			since := "-"
			if r := st.Resolved[x.Name]; r != "" {
				since = "processed by " + r
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.Name, x.Status, ts(x.Stop), x.File.Key, ops.OrDash(x.Error), since)
		}
		tw.Flush()
	}
	var todo []string
	for _, q := range st.Queues {
		if q.Name == ops.QueueFetchDLQ && q.Visible > 0 {
			todo = append(todo, fmt.Sprintf("%s in the %s queue (%s list fetch: each names the report, the reason and what to do)", plural(int(q.Visible), "message", "messages"), q.Name, op.command("dlq")))
			continue
		}
		if q.Name != ops.QueueIngest && q.Name != ops.QueueWebhook && q.Visible > 0 {
			arg := "failed"
			if q.Name == ops.QueueIngestDLQ {
				arg = "ingest"
			}
			todo = append(todo, fmt.Sprintf("%s in the %s queue (%s)", plural(int(q.Visible), "message", "messages"), q.Name, op.command("dlq list "+arg)))
		}
	}
	if n := st.Unresolved(); n > 0 {
		// Name the status that lists them: an aborted or timed-out execution is not --status FAILED.
		var statuses []string
		for _, status := range []string{states.Failed, states.TimedOut, states.Aborted} {
			if st.Counts[status] > 0 {
				statuses = append(statuses, status)
			}
		}
		list := op.command("executions")
		if len(statuses) == 1 {
			list += " --status " + statuses[0]
		}
		todo = append(todo, fmt.Sprintf("%s (%s)", plural(n, "failed execution", "failed executions"), list))
	}
	if len(todo) == 0 {
		fmt.Fprintln(w, "\nNothing needs attention.")
	} else {
		fmt.Fprintf(w, "\nNeeds attention: %s.\n", strings.Join(todo, "; "))
	}
}

func printExecutions(w io.Writer, list []ops.Execution) {
	tw := table(w)
	fmt.Fprintln(tw, "NAME\tSTATUS\tSTARTED\tDURATION\tFILE\tERROR\tREDRIVE")
	for _, x := range list {
		redrive := "-"
		switch {
		case x.Failed() && workflow.IsDataError(x.Error):
			redrive = "no: reprocess" // a redrive re-enters the Fail state, whatever Step Functions says
		case x.Failed():
			redrive = ops.OrDash(x.RedriveStatus)
		}
		why := x.Error
		if why == "" && x.Failed() { // aborted: no error name, the cause (if any) says why
			why = shorten(x.Message(), 80)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Name, x.Status, ts(x.Start), duration(x), x.File.Key, ops.OrDash(why), redrive)
	}
	tw.Flush()
	if len(list) == 0 {
		fmt.Fprintln(w, "(none)")
	}
}

// executionJSON is an execution as --json prints it.
type executionJSON struct {
	Name          string                   `json:"name"`
	ARN           string                   `json:"arn"`
	Status        string                   `json:"status"`
	Start         time.Time                `json:"start"`
	Stop          *time.Time               `json:"stop,omitempty"`
	File          workflow.FileRef         `json:"file"`
	Replace       bool                     `json:"replace,omitempty"`
	Policy        *workflow.PolicyOverride `json:"policy,omitempty"`
	Error         string                   `json:"error,omitempty"`
	Cause         string                   `json:"cause,omitempty"`
	RedriveStatus string                   `json:"redrive_status,omitempty"`
	RedriveCount  int                      `json:"redrive_count"`
}

func toJSON(op operator, x ops.Execution) executionJSON {
	j := executionJSON{Name: x.Name, ARN: x.ARN, Status: x.Status, Start: x.Start.UTC(), File: x.File, Replace: x.Replace, Policy: x.Policy,
		Error: x.Error, Cause: op.text(x.Message()), RedriveCount: x.RedriveCount}
	if !x.Stop.IsZero() {
		stop := x.Stop.UTC()
		j.Stop = &stop
	}
	if x.Failed() {
		j.RedriveStatus = x.RedriveStatus
	}
	return j
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// view is what a list of actions (or a replay) stands for.
type view int

const (
	done   view = iota // what was done
	dryRun             // --dry-run: what would be done; nothing was changed
	plan               // what will be done once confirmed
)

func viewOf(dry bool) view {
	if dry {
		return dryRun
	}
	return done
}

// printActions prints what restarts did; when the operator ran them to their end, it follows with
// their results, as settle run prints them.
func printActions(w io.Writer, op operator, actions []action, v view) {
	dry := v != done
	printViewHeader(w, v)
	tw := table(w)
	fmt.Fprintln(tw, "EXECUTION\tFILE\tOUTCOME\tRUNS AS\tNOTE")
	for _, a := range actions {
		note := a.Note
		if a.Err != nil {
			note = a.Err.Error()
		}
		outcome := a.Outcome
		if dry && (outcome == string(workflow.Started) || outcome == string(workflow.Redriven) || outcome == string(workflow.Restarted)) {
			outcome = "would be " + outcome
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ops.OrDash(a.Execution), op.file(a.File), outcome, ops.OrDash(a.Target), ops.OrDash(op.text(note)))
	}
	tw.Flush()
	switch {
	case len(actions) == 0:
		fmt.Fprintln(w, "(nothing to restart)")
	case dry:
	case op.runs():
		var results []local.FileResult
		var names []string
		for _, a := range actions {
			if a.result != nil {
				results = append(results, *a.result)
				names = append(names, op.file(rawRef(a.result.Key)))
			}
		}
		if len(results) == 0 {
			break
		}
		fmt.Fprintln(w)
		s := newSummary(w, op, names)
		for _, r := range results {
			s.add(r)
		}
		s.end()
	case changes(actions) > 0:
		fmt.Fprintf(w, "\nFollow them with %s, or %s.\n", op.command("show NAME"), op.command("status"))
	}
}

// changes counts the actions that start or redrive an execution.
func changes(actions []action) int {
	n := 0
	for _, a := range actions {
		switch a.Outcome {
		case string(workflow.Started), string(workflow.Redriven), string(workflow.Restarted):
			n++
		}
	}
	return n
}

// actionsExit fails the command when a restart failed or, run to its end, failed again, or when the
// only one asked for was skipped.
func actionsExit(actions []action) error {
	failedN, again := 0, 0
	for _, a := range actions {
		if a.Outcome == ops.Failed || a.Err != nil {
			failedN++
		} else if a.result != nil && a.result.Failed() {
			again++
		}
	}
	switch {
	case failedN > 0:
		return failed("%d of %d restarts failed", failedN, len(actions))
	case again > 0:
		return failed("%d of %d executions failed again", again, len(actions))
	case len(actions) == 1 && actions[0].Outcome == ops.Skipped:
		return failed("%s was not restarted: %s", actions[0].Execution, actions[0].Note)
	}
	return nil
}

// confirmActions shows planned restarts and asks whether to go ahead. It returns false when the
// command must stop: with the error to return, or nil when nothing would change (the plan, printed,
// is the answer). With asJSON the plan goes to stderr, with the question, so that stdout holds only
// the JSON of what was done (or, when nothing would change, of the plan).
func confirmActions(a *app, op operator, command, question string, planned []action, asJSON bool) (bool, error) {
	if changes(planned) == 0 { // nothing to confirm: what there is to say is said
		if asJSON {
			if err := printActionsJSON(a.stdout, op, planned, false); err != nil {
				return false, err
			}
		} else {
			printActions(a.stdout, op, planned, done)
		}
		return false, actionsExit(planned)
	}
	w := a.stdout
	if asJSON {
		w = a.stderr
	}
	printActions(w, op, planned, plan)
	if err := a.confirm(command, question); err != nil {
		return false, err
	}
	fmt.Fprintln(w)
	return true, nil
}

func printDLQ(w io.Writer, msgs []ops.DLQMessage, now time.Time) {
	tw := table(w)
	fmt.Fprintln(tw, "QUEUE\tID\tSENT\tRECEIVES\tKIND\tFILE\tEXECUTION\tSTEP\tERROR")
	for _, m := range msgs {
		errName := m.Error
		if errName == "" && m.Status != "" {
			errName = m.Status
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", m.Queue, m.ID, ago(now, m.Sent), m.Receives, m.Kind, m.File.Key,
			ops.OrDash(m.Execution), ops.OrDash(m.Step), ops.OrDash(errName))
	}
	tw.Flush()
	if len(msgs) == 0 {
		fmt.Fprintln(w, "(the dead-letter queues are empty)")
	}
}

func printDLQMessage(w io.Writer, op operator, m ops.DLQMessage) {
	fmt.Fprintf(w, "Message   %s (%s queue, %s)\n  Sent      %s, received %d times\n  File      %s (etag %s)\n", m.ID, m.Queue, m.Kind, ts(m.Sent), m.Receives, op.file(m.File), m.File.ETag)
	if m.Execution != "" {
		fmt.Fprintf(w, "  Execution %s\n", m.Execution)
	}
	if m.Step != "" {
		fmt.Fprintf(w, "  Step      %s\n", m.Step)
	}
	if m.Error != "" || m.Status != "" {
		fmt.Fprintf(w, "  Error     %s\n", strings.TrimSpace(m.Status+" "+m.Error))
	}
	if m.Cause != "" {
		fmt.Fprintf(w, "  Cause     %s\n", indentCause(op.text(m.Message()), "            "))
	}
	if m.Action != "" {
		fmt.Fprintf(w, "  To do     %s\n", dlqAction(op, m))
	}
	if fix := dlqFix(op, m); fix != "" {
		fmt.Fprintf(w, "  Fix       %s\n", fix)
	}
	if command, does := dlqRedrive(op, m); command != "" {
		fmt.Fprintf(w, "  Redrive   %s (%s)\n", command, does)
	}
	if v, ok := local.Structured(m.Body).(map[string]any); ok { // the message, with the JSON inside its strings laid out
		b, _ := json.MarshalIndent(v, "  ", "  ")
		fmt.Fprintf(w, "\n  %s\n", b)
	} else {
		fmt.Fprintf(w, "\n  %s\n", m.Body)
	}
}

func printMove(w io.Writer, op operator, t ops.MoveTask, v view) {
	switch {
	case t.Messages == 0:
		fmt.Fprintln(w, "The ingest DLQ is empty: nothing to move.")
	case v == plan:
		fmt.Fprintf(w, "Plan (nothing is changed until you confirm): move %s from %s to %s.\n", plural(int(t.Messages), "message", "messages"), t.From, t.To)
	case v == dryRun:
		fmt.Fprintf(w, "Dry run: would move %s from %s to %s.\n", plural(int(t.Messages), "message", "messages"), t.From, t.To)
	default:
		fmt.Fprintf(w, "Moving %s from %s to %s (task %s).\nThe starter handles each as a new delivery; follow with %s.\n", plural(int(t.Messages), "message", "messages"), t.From, t.To, t.Handle, op.command("status"))
	}
}

// indentCause lays out a cause over lines: a validation error's problems and the objects it names
// one a line, a JSON cause indented; indent prefixes the lines after the first.
func indentCause(s, indent string) string {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		var v any
		if json.Unmarshal([]byte(t), &v) == nil {
			b, _ := json.MarshalIndent(v, indent, "  ")
			return string(b)
		}
	}
	parts := strings.Split(t, "; ")
	if head, first, ok := strings.Cut(parts[0], ": rejected: "); ok { // ValidationError: "<file>: rejected: <problem>; …"
		parts = append([]string{head + ": rejected:", first}, parts[1:]...)
		for i := 1; i < len(parts); i++ {
			parts[i] = "  " + parts[i]
		}
	}
	return strings.Join(parts, "\n"+indent)
}

// printViewHeader says, above a table of planned changes, that nothing was changed (a dry run) or that
// nothing will be until the operator confirms (a plan).
func printViewHeader(w io.Writer, v view) {
	switch v {
	case dryRun:
		fmt.Fprintln(w, "Dry run: nothing was changed.")
	case plan:
		fmt.Fprintln(w, "Plan (nothing is changed until you confirm):")
	}
}
