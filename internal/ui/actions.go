package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/workflow"
)

// The actions are the commands' own (ops.Operator's Redrive, Reprocess, Acknowledge), with the same
// refusals (a rejected file is not redriven, and the page says which reprocess lets it through), the
// same dry runs, and the same confirmation for what replaces data: a reprocess with replace shows its
// plan (a dry run) and runs only when that plan's form is sent back confirmed.

// resultPage is what an action did, or would do.
type resultPage struct {
	page
	Name   string // the execution the action was asked for on
	Verb   string
	Action ops.Action
	Dry    bool
	Advice string
	Error  string
}

// confirmPage is a plan to confirm, with the form that runs it.
type confirmPage struct {
	page
	Name     string
	Verb     string
	Action   ops.Action
	Question string
	Fields   []field
}

type field struct{ Name, Value string }

// done is where an action that started or redrove an execution leads: the page of that execution, which
// the local operator has run to its end, and on a stack updates itself while it runs.
func done(w http.ResponseWriter, r *http.Request, a ops.Action) {
	http.Redirect(w, r, "/executions/"+url.PathEscape(a.Target)+"?done="+url.QueryEscape(a.Outcome), http.StatusSeeOther)
}

func restarted(a ops.Action) bool {
	switch a.Outcome {
	case string(workflow.Redriven), string(workflow.Restarted), string(workflow.Started):
		return a.Target != ""
	}
	return false
}

func (s *Server) redrive(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context() // the console's, not the request's: see guard
	name, dry := r.PathValue("name"), r.PostFormValue("dry_run") != ""
	a, err := s.o.Operator.Redrive(ctx, name, dry, false)
	if err != nil && a.Execution == "" {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	if err == nil && !dry && restarted(a) {
		done(w, r, a)
		return
	}
	p := resultPage{page: s.page("Redrive "+name, "executions"), Name: name, Verb: "redrive", Action: a, Dry: dry}
	if err != nil {
		p.Error = s.o.Text(err.Error())
	}
	if a.Outcome == ops.Skipped {
		// A rejected file: what lets it through is a reprocess, which the execution's page offers.
		if d, err := s.o.Operator.Show(ctx, a.Execution); err == nil && workflow.IsDataError(d.Error) {
			p.Advice = s.o.Advice(d)
		}
	}
	s.render(w, http.StatusOK, "result", p)
}

// reprocessForm reads a reprocess's settings as the command's flags are read.
func reprocessForm(r *http.Request) (ops.ReprocessOptions, []field, error) {
	o := ops.ReprocessOptions{Replace: r.PostFormValue("replace") != ""}
	var fields []field
	var p workflow.PolicyOverride
	if v := strings.TrimSpace(r.PostFormValue("max_rejected")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, nil, fmt.Errorf("max rejected rows %q: want a whole number >= 0", v)
		}
		p.MaxRejected = &n
		fields = append(fields, field{"max_rejected", v})
	}
	switch v := strings.ToLower(r.PostFormValue("balance_check")); v {
	case "":
	case "on", "off":
		on := v == "on"
		p.BalanceCheck = &on
		fields = append(fields, field{"balance_check", v})
	default:
		return o, nil, fmt.Errorf("balance check %q: want on or off", v)
	}
	if !p.Empty() {
		o.Policy = &p
	}
	if o.Replace {
		fields = append(fields, field{"replace", "on"})
	}
	return o, fields, nil
}

func (s *Server) reprocess(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context() // the console's, not the request's: see guard
	name, dry := r.PathValue("name"), r.PostFormValue("dry_run") != ""
	opts, fields, err := reprocessForm(r)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	if opts.Replace && !dry && r.PostFormValue("confirm") != "yes" {
		plan, err := s.o.Operator.Reprocess(ctx, name, opts, true)
		if err != nil {
			s.fail(w, http.StatusBadRequest, err)
			return
		}
		s.render(w, http.StatusOK, "confirm", confirmPage{page: s.page("Reprocess "+name, "executions"), Name: name, Verb: "reprocess", Action: plan,
			Question: "Replace the batch's committed file with this one?", Fields: append(fields, field{"confirm", "yes"})})
		return
	}
	a, err := s.o.Operator.Reprocess(ctx, name, opts, dry)
	if err != nil && a.Target == "" {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	if err == nil && !dry && restarted(a) {
		done(w, r, a)
		return
	}
	p := resultPage{page: s.page("Reprocess "+name, "executions"), Name: name, Verb: "reprocess", Action: a, Dry: dry}
	if err != nil {
		p.Error = s.o.Text(err.Error())
	}
	s.render(w, http.StatusOK, "result", p)
}

// ack acknowledges batches that will never come (or a closed account), as batches ack does.
func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context() // the console's, not the request's: see guard
	provider := r.PostFormValue("provider")
	if provider == "" {
		provider = settlement.ProviderAdyen
	}
	merchant := r.PostFormValue("merchant")
	ack := ledger.Ack{Closed: r.PostFormValue("closed") != "", By: strings.TrimSpace(r.PostFormValue("by")), Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	if merchant == "" {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("name the merchant account"))
		return
	}
	if v := strings.TrimSpace(r.PostFormValue("batch")); v != "" && !ack.Closed {
		lo, hi, isRange := strings.Cut(v, "-")
		var err1, err2 error
		ack.First, err1 = strconv.ParseInt(strings.TrimSpace(lo), 10, 64)
		ack.Last = ack.First
		if isRange {
			ack.Last, err2 = strconv.ParseInt(strings.TrimSpace(hi), 10, 64)
		}
		if err1 != nil || err2 != nil {
			s.fail(w, http.StatusBadRequest, fmt.Errorf("batch %q: want a number N or a range N-M", v))
			return
		}
	} else if !ack.Closed {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("name the batches that will never come (N or N-M), or acknowledge the account closed"))
		return
	}
	added, err := s.o.Operator.Acknowledge(ctx, provider, merchant, ack)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	what := "acknowledged"
	if !added {
		what = "already acknowledged"
	}
	http.Redirect(w, r, "/batches?done="+url.QueryEscape(what), http.StatusSeeOther)
}

// actionsPage is what a restart of a dead-letter queue did or would do; with Fields, a plan to confirm.
type actionsPage struct {
	page
	Verb     string
	Queue    string
	Actions  []ops.Action       // failed: each file's restart
	Move     *ops.MoveTask      // ingest: the move back to the ingest queue
	Fetch    []ops.FetchRedrive // fetch: each request sent back to the webhook queue
	Dry      bool
	Error    string
	Question string
	Fields   []field
}

// none says whether there is nothing to do.
func (p actionsPage) None() bool {
	return len(p.Actions) == 0 && len(p.Fetch) == 0 && (p.Move == nil || p.Move.Messages == 0)
}

// redriveQueue restarts what a dead-letter queue holds, as dlq redrive does: the failed-files queue's
// files, the ingest DLQ's events (moved back to the ingest queue) or the fetch DLQ's report requests
// (sent back to the webhook queue). The messages named (an id each) go at once; a whole queue shows its
// plan and goes once confirmed.
func (s *Server) redriveQueue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context() // the console's, not the request's: see guard
	ids, dry := r.PostForm["id"], r.PostFormValue("dry_run") != ""
	queue := r.PostFormValue("queue")
	if queue == "" {
		queue = ops.QueueFailed
	}
	if !slices.Contains(s.o.Operator.Queues.DeadLetterQueues(), queue) {
		s.say(w, http.StatusBadRequest, fmt.Sprintf("there is no dead-letter queue %q here", queue))
		return
	}
	p := actionsPage{page: s.page("Restart the "+queue+" queue", "failed"), Verb: "dlq redrive " + strings.TrimSuffix(queue, "-dlq"), Queue: queue, Dry: dry}
	plan := len(ids) == 0 && !dry && r.PostFormValue("confirm") != "yes"
	var err error
	switch queue {
	case ops.QueueFailed:
		p.Question = "Restart them and delete their messages?"
		p.Actions, err = s.o.Operator.DLQRedriveFailed(ctx, ids, dry || plan)
	case ops.QueueIngestDLQ:
		p.Question = "Move them back to the ingest queue?"
		var mv ops.MoveTask
		mv, err = s.o.Operator.DLQRedriveIngest(ctx, dry || plan)
		p.Move = &mv
	case ops.QueueFetchDLQ:
		p.Question = "Send them back to the webhook queue and delete their messages?"
		p.Fetch, err = s.o.Operator.DLQRedriveFetch(ctx, ids, dry || plan)
	}
	if err != nil {
		if p.None() {
			s.fail(w, http.StatusBadRequest, err)
			return
		}
		p.Error = s.o.Text(err.Error())
	}
	if plan {
		p.Fields = []field{{"queue", queue}, {"confirm", "yes"}}
	}
	s.render(w, http.StatusOK, "actions", p)
}
