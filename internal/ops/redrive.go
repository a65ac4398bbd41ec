package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

// Action is what a restart did (or, in a dry run, would do) for one file.
type Action struct {
	Execution string           // the execution asked for
	File      workflow.FileRef // its file
	Outcome   string           // redriven, restarted, started, duplicate, skipped, failed
	Target    string           // the execution that was (or would be) redriven or started
	Note      string           // why, in a few words
	Err       error
}

// Launch outcomes beyond workflow's.
const (
	Skipped = "skipped"
	Failed  = "failed"
)

// Redrive restarts a failed execution the way a re-delivery of its file would: RedriveExecution from the
// step that failed while Step Functions allows it (14 days), else a new "<name>-rN" execution with the
// original input. A rejected file (a data error) is refused unless force, since its redrive re-enters
// the Fail state: reprocess it instead.
func (o *Operator) Redrive(ctx context.Context, name string, dry, force bool) (Action, error) {
	x, err := o.Describe(ctx, name)
	if err != nil {
		return Action{}, err
	}
	a := o.restart(ctx, x, dry, force)
	return a, a.Err
}

// restart restarts the failed execution x: a rejected file is skipped unless force, and then redriven
// as it is (it re-enters the Fail state); any other is launched as a re-delivery of its file would be.
func (o *Operator) restart(ctx context.Context, x Execution, dry, force bool) Action {
	execs := launcher{o.Machine, dry}
	a := Action{Execution: x.Name, File: x.File, Target: x.Name}
	switch {
	case !x.Failed():
		a.Outcome, a.Err = Skipped, fmt.Errorf("execution %s is %s; only FAILED, TIMED_OUT or ABORTED executions are redriven", x.Name, x.Status)
		return a
	case IsDataError(x.Error) && !force:
		a.Outcome, a.Note = Skipped, "rejected ("+x.Error+"): a redrive fails again; fix the file and reprocess it"
		return a
	case IsDataError(x.Error):
		// Forced: this very execution, redriven (Launch leaves a rejected content alone).
		if x.RedriveStatus != states.Redrivable {
			a.Outcome, a.Err = Failed, fmt.Errorf("execution %s is not redrivable (%s); reprocess the file instead", x.Name, OrDash(x.RedriveReason))
			return a
		}
		if err := execs.Redrive(ctx, x.Name); err != nil {
			a.Outcome, a.Err = Failed, o.explain("redrive "+x.Name, err)
			return a
		}
		a.Outcome, a.Note = string(workflow.Redriven), "forced: re-enters the Fail state, runs no step"
		return a
	}
	// Launch from the content's first name, so that -rN successors are found and numbered as the starter does.
	base := workflow.RestartBase(x.Name)
	outcome, target, err := workflow.Launch(ctx, execs, base, []byte(x.Input), nil)
	a.Target = target
	switch {
	case err != nil:
		a.Outcome, a.Err = Failed, o.explain("restart "+x.Name, err)
	case outcome == workflow.Duplicate:
		a.Outcome, a.Note = string(outcome), "already running or succeeded as "+target
	case outcome == workflow.Redriven:
		a.Outcome, a.Note = string(outcome), "reruns the step that failed, same input"
	case outcome == workflow.Restarted:
		a.Outcome, a.Note = string(outcome), "not redrivable ("+OrDash(x.RedriveReason)+"): new execution, original input"
	case outcome == workflow.Rejected: // a later -rN of this content was rejected
		a.Outcome, a.Note = Skipped, "its restart "+target+" was rejected for a data error; fix the file and reprocess it"
	default:
		a.Outcome = string(outcome)
	}
	return a
}

// OrDash is s, or "-" for nothing: an empty cell of a table, an absent reason.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// RedriveFailed restarts every execution that failed, timed out or was aborted since since, except the
// rejected files, which are listed as skipped. Each content is restarted once, by its latest execution,
// newest first; a content whose latest execution is running or succeeded is left alone.
func (o *Operator) RedriveFailed(ctx context.Context, since time.Time, dry bool) ([]Action, error) {
	items, err := o.Machine.List(ctx, "", since, 0)
	if err != nil {
		return nil, err
	}
	var out []Action
	done := map[string]bool{}
	for _, it := range items {
		base := workflow.RestartBase(it.Name)
		if done[base] {
			continue
		}
		done[base] = true // the latest execution of a content speaks for it
		if !isFailed(it.Status) {
			continue
		}
		x, err := o.Describe(ctx, it.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, o.restart(ctx, x, dry, false))
	}
	return out, nil
}

// ReprocessOptions say how a file is run again: replacing its batch's committed file, and under a
// policy override, which the execution's input records.
type ReprocessOptions struct {
	Replace bool
	Policy  *workflow.PolicyOverride
}

// Reprocess runs a raw object again: a file whose event was lost, or a corrected, regenerated or
// newly accepted one. target is the object's s3:// address, or the name of an execution, whose file is
// run again. Without replace or a policy override the execution is named by the object's ETag, as the
// starter names it, unless that name is taken by a closed execution; then, and always with replace or
// an override, it is "<etag name>-pN", the first N not taken (docs/decisions.md): the ETag's own
// execution keeps its history, and Step Functions will not reuse a closed execution's name.
func (o *Operator) Reprocess(ctx context.Context, target string, opts ReprocessOptions, dry bool) (Action, error) {
	file, found, err := o.Files.Object(ctx, target, dry)
	if err != nil {
		return Action{}, err
	}
	if !found {
		x, err := o.Describe(ctx, target)
		if errors.Is(err, ErrNoExecution) {
			return Action{}, o.Files.Unknown(target)
		}
		if err != nil {
			return Action{}, err
		}
		if file, err = o.Files.Current(ctx, target, x.File); err != nil {
			return Action{}, err
		}
	}
	return o.ReprocessFile(ctx, file, opts, dry)
}

// ReprocessFile runs an object of the raw bucket again with the options (see Reprocess).
func (o *Operator) ReprocessFile(ctx context.Context, file workflow.FileRef, opts ReprocessOptions, dry bool) (Action, error) {
	pol := opts.Policy
	if pol.Empty() {
		pol = nil
	}
	input, _ := json.Marshal(workflow.ExecutionInput{File: file, Replace: opts.Replace, Policy: pol})
	return o.fresh(ctx, file, input, !opts.Replace && pol == nil, dry)
}

// MaxReprocesses bounds the reprocess executions of one content: "<etag name>-p1" to "-p50".
const MaxReprocesses = 50

// fresh starts a new execution of a file with input: named by its ETag when useETagName and that name
// is free, else "<etag name>-pN" with the first N not taken. A running execution of it is reported as
// a duplicate instead.
func (o *Operator) fresh(ctx context.Context, file workflow.FileRef, input []byte, useETagName, dry bool) (Action, error) {
	a := Action{File: file, Execution: workflow.ExecutionName(file.ETag)}
	var candidates []string
	if useETagName {
		candidates = append(candidates, a.Execution)
	}
	for n := 1; n <= MaxReprocesses; n++ {
		candidates = append(candidates, a.Execution+"-p"+strconv.Itoa(n))
	}
	for _, name := range candidates {
		info, err := o.Machine.Describe(ctx, name)
		switch {
		case errors.Is(err, ErrNoExecution):
			// Just described as free: started as it is (launcher's describe-first start would describe
			// it again); a start that loses the name to another meanwhile fails with ErrExecutionExists.
			if err := o.startUnlessDry(ctx, name, input, dry); err != nil {
				a.Outcome, a.Target, a.Err = Failed, name, o.explain("start "+name, err)
				return a, a.Err
			}
			a.Outcome, a.Target = string(workflow.Started), name
			var in workflow.ExecutionInput
			if json.Unmarshal(input, &in) == nil {
				a.Note = ReprocessNote(in)
			}
			return a, nil
		case err != nil:
			return a, err
		case info.Status == states.Running:
			a.Outcome, a.Target, a.Note = string(workflow.Duplicate), name, "this file is being processed now"
			return a, nil
		}
	}
	return a, fmt.Errorf("%s has been reprocessed %d times; look at %s before trying again", file.Key, MaxReprocesses, o.command("executions"))
}

func (o *Operator) startUnlessDry(ctx context.Context, name string, input []byte, dry bool) error {
	if dry {
		return nil
	}
	return o.Machine.Start(ctx, name, input)
}

// ReprocessNote says what a reprocess's input asks beyond running the file: a replace, a policy.
func ReprocessNote(in workflow.ExecutionInput) string {
	var notes []string
	if in.Replace {
		notes = append(notes, "replaces the batch's committed file")
	}
	if p := in.Policy; p != nil {
		if p.MaxRejected != nil {
			notes = append(notes, fmt.Sprintf("allows %d rejected rows", *p.MaxRejected))
		}
		if p.BalanceCheck != nil {
			notes = append(notes, "balance check "+map[bool]string{true: "on", false: "off"}[*p.BalanceCheck])
		}
	}
	return strings.Join(notes, ", ")
}
