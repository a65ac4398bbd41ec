package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

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

var queueMeaning = map[string]string{
	ops.QueueIngest:    "raw-bucket events waiting for the starter",
	ops.QueueIngestDLQ: "events the starter gave up on: settle aws dlq list ingest",
	ops.QueueFailed:    "failed files, one message each: settle aws dlq list failed",
	ops.QueueWebhook:   "reports Adyen announced, waiting to be downloaded",
	ops.QueueFetchDLQ:  "reports that could not be downloaded, each with its reason",
}

func printStatus(w io.Writer, st *ops.Status) {
	fmt.Fprintf(w, "Stack %s in %s (%s), at %s\n\n", st.Stack.Name, st.Stack.Region, st.Stack.Status, ts(st.At))
	tw := table(w)
	fmt.Fprintln(tw, "QUEUE\tWAITING\tIN FLIGHT\t")
	for _, q := range st.Queues {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", q.Name, q.Visible, q.InFlight, queueMeaning[q.Name])
	}
	tw.Flush()
	var counts []string
	for _, s := range states.Statuses {
		if s != states.Running {
			counts = append(counts, fmt.Sprintf("%s %d", s, st.Counts[s]))
		}
	}
	fmt.Fprintf(w, "\nExecutions since %s: %s; RUNNING now %d\n", ts(st.Since), strings.Join(counts, ", "), st.Counts[states.Running])
	if n := len(st.Resolved); n > 0 {
		fmt.Fprintf(w, "%s since processed by a later execution of the same file.\n", plural(n, "failure was", "failures were"))
	}
	if len(st.Running) > 0 {
		x := st.Running[0]
		fmt.Fprintf(w, "Oldest waiting file: %s, running since %s (%s) as %s\n", x.File.URL(), ts(x.Start), ago(st.At, x.Start), x.Name)
	} else {
		fmt.Fprintln(w, "Oldest waiting file: none running")
	}
	if len(st.Failed) > 0 {
		fmt.Fprintln(w, "\nFailed since then (settle aws show NAME explains each):")
		tw := table(w)
		fmt.Fprintln(tw, "NAME\tSTATUS\tSTOPPED\tFILE\tERROR\tSINCE")
		for _, x := range st.Failed {
			since := "-"
			if r := st.Resolved[x.Name]; r != "" {
				since = "processed by " + r
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.Name, x.Status, ts(x.Stop), x.File.Key, orDash(x.Error), since)
		}
		tw.Flush()
	}
	var todo []string
	for _, q := range st.Queues {
		if q.Name == ops.QueueFetchDLQ && q.Visible > 0 {
			todo = append(todo, fmt.Sprintf("%s in the %s queue (read them in the SQS console: each names the report, the reason and what to do)", plural(int(q.Visible), "message", "messages"), q.Name))
			continue
		}
		if q.Name != ops.QueueIngest && q.Name != ops.QueueWebhook && q.Visible > 0 {
			arg := "failed"
			if q.Name == ops.QueueIngestDLQ {
				arg = "ingest"
			}
			todo = append(todo, fmt.Sprintf("%s in the %s queue (settle aws dlq list %s)", plural(int(q.Visible), "message", "messages"), q.Name, arg))
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
		list := "settle aws executions"
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

func printExecutions(w io.Writer, list []ops.Execution, now time.Time) {
	tw := table(w)
	fmt.Fprintln(tw, "NAME\tSTATUS\tSTARTED\tDURATION\tFILE\tERROR\tREDRIVE")
	for _, x := range list {
		redrive := "-"
		if x.Failed() {
			redrive = orDash(x.RedriveStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Name, x.Status, ts(x.Start), duration(x), x.File.Key, orDash(x.Error), redrive)
	}
	tw.Flush()
	if len(list) == 0 {
		fmt.Fprintln(w, "(none)")
	}
}

func printDetail(w io.Writer, d *ops.Detail) {
	fmt.Fprintf(w, "Execution %s  %s\n", d.Name, d.Status)
	fmt.Fprintf(w, "  ARN       %s\n  File      %s (etag %s, %d bytes)", d.ARN, d.File.URL(), d.File.ETag, d.File.Size)
	if d.Replace {
		fmt.Fprint(w, ", replace")
	}
	fmt.Fprintf(w, "\n  Started   %s\n", ts(d.Start))
	if !d.Stop.IsZero() {
		fmt.Fprintf(w, "  Stopped   %s (%s)\n", ts(d.Stop), duration(d.Execution))
	}
	if d.Failed() {
		// An execution stopped by StopExecution has no error or cause.
		fmt.Fprintf(w, "  Failed at %s\n  Error     %s\n  Cause     %s\n  Redrive   %s", orDash(d.FailedStep), orDash(d.Error), orDash(d.Message()), orDash(d.RedriveStatus))
		if d.RedriveReason != "" {
			fmt.Fprintf(w, " (%s)", d.RedriveReason)
		}
		fmt.Fprintf(w, ", %d so far\n", d.RedriveCount)
	}
	fmt.Fprintf(w, "  To do     %s\n\n", d.Advice)
	tw := table(w)
	fmt.Fprintln(tw, "ID\tTYPE\tSTEP\tELAPSED\tDETAIL")
	for _, ev := range d.Events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", ev.ID, ev.Type, orDash(ev.State), ev.Time.Sub(d.Start).Round(time.Millisecond), orDash(shorten(ev.Detail, 140)))
	}
	tw.Flush()
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

func printActions(w io.Writer, actions []ops.Action, v view) {
	dry := v != done
	switch v {
	case dryRun:
		fmt.Fprintln(w, "Dry run: nothing was changed.")
	case plan:
		fmt.Fprintln(w, "Plan (nothing is changed until you confirm):")
	}
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", orDash(a.Execution), a.File.URL(), outcome, orDash(a.Target), orDash(note))
	}
	tw.Flush()
	if len(actions) == 0 {
		fmt.Fprintln(w, "(nothing to restart)")
	} else if !dry {
		fmt.Fprintln(w, "\nFollow them with settle aws show NAME, or settle aws status.")
	}
}

// changes counts the actions that start or redrive an execution.
func changes(actions []ops.Action) int {
	n := 0
	for _, a := range actions {
		switch a.Outcome {
		case string(workflow.Started), string(workflow.Redriven), string(workflow.Restarted):
			n++
		}
	}
	return n
}

// printReplayPlan prints a replay's window and what its events will meet.
func printReplayPlan(w io.Writer, r *ops.Replay) {
	retention := "forever"
	if r.Retention > 0 {
		retention = fmt.Sprintf("%d days", r.Retention)
	}
	fmt.Fprintf(w, "Archive  %s (keeps events %s; has events from %s)\n", r.Archive, retention, ts(r.ArchiveFrom))
	fmt.Fprintf(w, "Window   %s to %s\n", ts(r.From), ts(r.To))
	fmt.Fprintf(w, "Target   %s, rule %s only\n", r.Bus, r.Rule)
	n := len(r.Duplicates) + len(r.Restarts) + len(r.Rejected)
	fmt.Fprintf(w, "\nFiles with an execution started in the window: %d. The replayed events of files without one start it.\n", n)
	fmt.Fprintf(w, "  %s: duplicate deliveries, nothing runs again\n", plural(len(r.Duplicates), "running or succeeded", "running or succeeded"))
	fmt.Fprintf(w, "  %s on an infrastructure error: redriven from the failed step (or restarted as -rN)\n", plural(len(r.Restarts), "failed", "failed"))
	fmt.Fprintf(w, "  %s on a data error: skipped, they stay rejected (not redriven)\n", plural(len(r.Rejected), "rejected", "rejected"))
	if len(r.Restarts)+len(r.Rejected) == 0 {
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "\nEXECUTION\tFILE\tERROR\tREPLAY\tTO RUN IT AGAIN")
	for _, f := range r.Restarts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Execution, f.File.URL(), orDash(f.Error), "redrives it", "-")
	}
	for _, f := range r.Rejected {
		again := f.Reprocess()
		if f.ProcessedBy != "" {
			again = "nothing to do: processed by " + f.ProcessedBy
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Execution, f.File.URL(), f.Error, "skips it", again)
	}
	tw.Flush()
}

// printReplayResult prints what became of the replay (or, in a dry run, that nothing was started).
func printReplayResult(w io.Writer, r *ops.Replay, dry bool) {
	if dry {
		fmt.Fprintf(w, "\nDry run: the window is replayable; settle aws replay without --dry-run starts %s.\n", r.Name)
		return
	}
	fmt.Fprintf(w, "\nReplay   %s: %s\n", r.Name, r.State)
	fmt.Fprintln(w, "Each replayed event reaches the starter again: files never started start now, the others count as duplicate deliveries, rejected files stay rejected. Follow with settle aws status.")
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
			orDash(m.Execution), orDash(m.Step), orDash(errName))
	}
	tw.Flush()
	if len(msgs) == 0 {
		fmt.Fprintln(w, "(the dead-letter queues are empty)")
	}
}

func printDLQMessage(w io.Writer, m ops.DLQMessage) {
	fmt.Fprintf(w, "Message   %s (%s queue, %s)\n  Sent      %s, received %d times\n  File      %s (etag %s)\n", m.ID, m.Queue, m.Kind, ts(m.Sent), m.Receives, m.File.URL(), m.File.ETag)
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
		fmt.Fprintf(w, "  Cause     %s\n", m.Message())
	}
	if m.Action != "" {
		fmt.Fprintf(w, "  To do     %s\n", m.Action)
	}
	switch m.Kind {
	case ops.KindObjectCreated:
		fmt.Fprintln(w, "  Redrive   settle aws dlq redrive ingest (moves the whole ingest DLQ back to the ingest queue)")
	case ops.KindRejected, ops.KindStatusChange:
		fmt.Fprintf(w, "  Redrive   settle aws dlq redrive failed %s (restarts the file's execution, then deletes the message)\n", m.ID)
	}
	var pretty map[string]any
	if json.Unmarshal([]byte(m.Body), &pretty) == nil {
		b, _ := json.MarshalIndent(pretty, "  ", "  ")
		fmt.Fprintf(w, "\n  %s\n", b)
	} else {
		fmt.Fprintf(w, "\n  %s\n", m.Body)
	}
}

func printMove(w io.Writer, t ops.MoveTask, v view) {
	switch {
	case t.Messages == 0:
		fmt.Fprintln(w, "The ingest DLQ is empty: nothing to move.")
	case v == plan:
		fmt.Fprintf(w, "Plan (nothing is changed until you confirm): move %s from %s to %s.\n", plural(int(t.Messages), "message", "messages"), t.From, t.To)
	case v == dryRun:
		fmt.Fprintf(w, "Dry run: would move %s from %s to %s.\n", plural(int(t.Messages), "message", "messages"), t.From, t.To)
	default:
		fmt.Fprintf(w, "Moving %s from %s to %s (task %s).\nThe starter handles each as a new delivery; follow with settle aws status.\n", plural(int(t.Messages), "message", "messages"), t.From, t.To, t.Handle)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
