package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/store"
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

// executions is Step Functions for workflow.Launch, starting an execution only when its name is free;
// dry makes it describe for real but only pretend to start and redrive.
func (o *Ops) executions(dry bool) workflow.Executions {
	x := cloud.Executions{Client: o.SFN, StateMachineARN: o.Stack.Out(OutStateMachineARN)}
	if dry {
		return dryRun{checked{x}}
	}
	return checked{x}
}

// checked describes a name before starting it. StartExecution answers a start with the name and input
// of a running execution with that execution, as if it had started it; an operator's restarts are few,
// and the describe tells the two apart exactly (the starter, which must not spend a describe per file,
// tells them apart by the start date: cloud.Executions.Start).
type checked struct{ cloud.Executions }

// Start starts name unless an execution has it: then ErrExecutionExists, as for a closed one.
func (c checked) Start(ctx context.Context, name string, input []byte) error {
	if err := c.free(ctx, name); err != nil {
		return err
	}
	return c.Executions.Start(ctx, name, input)
}

// free is nil when no execution has the name, ErrExecutionExists when one has.
func (c checked) free(ctx context.Context, name string) error {
	_, err := c.Executions.Describe(ctx, name)
	var dne *sfntypes.ExecutionDoesNotExist
	switch {
	case errors.As(err, &dne):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("%w: %s", workflow.ErrExecutionExists, name)
}

type dryRun struct{ c checked }

func (d dryRun) Start(ctx context.Context, name string, input []byte) error {
	return d.c.free(ctx, name)
}

func (d dryRun) Describe(ctx context.Context, name string) (workflow.ExecutionInfo, error) {
	return d.c.Describe(ctx, name)
}

func (d dryRun) Redrive(ctx context.Context, name string) error { return nil }

// Redrive restarts a failed execution the way a re-delivery of its file would: RedriveExecution from the
// step that failed while Step Functions allows it (14 days), else a new "<name>-rN" execution with the
// original input. A rejected file (a data error) is refused unless force, since its redrive re-enters
// the Fail state: reprocess it instead.
func (o *Ops) Redrive(ctx context.Context, name string, dry, force bool) (Action, error) {
	x, err := o.Describe(ctx, name)
	if err != nil {
		return Action{}, err
	}
	a := o.restart(ctx, x, dry, force)
	return a, a.Err
}

func (o *Ops) restart(ctx context.Context, x Execution, dry, force bool) Action {
	return Restart(ctx, o.executions(dry), x, force, func(op string, err error) error { return explain(op, o.Stack.Region, err) })
}

// Restart restarts the failed execution x through execs, the rule of Redrive for a stack and for the
// local data folder alike: a rejected file is skipped unless force, and then redriven as it is (it
// re-enters the Fail state); any other is launched as a re-delivery of its file would be. explain puts
// a failed call's error ("redrive NAME", "restart NAME") in the operator's words.
func Restart(ctx context.Context, execs workflow.Executions, x Execution, force bool, explain func(op string, err error) error) Action {
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
			a.Outcome, a.Err = Failed, fmt.Errorf("execution %s is not redrivable (%s); reprocess the file instead", x.Name, orDash(x.RedriveReason))
			return a
		}
		if err := execs.Redrive(ctx, x.Name); err != nil {
			a.Outcome, a.Err = Failed, explain("redrive "+x.Name, err)
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
		a.Outcome, a.Err = Failed, explain("restart "+x.Name, err)
	case outcome == workflow.Duplicate:
		a.Outcome, a.Note = string(outcome), "already running or succeeded as "+target
	case outcome == workflow.Redriven:
		a.Outcome, a.Note = string(outcome), "reruns the step that failed, same input"
	case outcome == workflow.Restarted:
		a.Outcome, a.Note = string(outcome), "not redrivable ("+orDash(x.RedriveReason)+"): new execution, original input"
	case outcome == workflow.Rejected: // a later -rN of this content was rejected
		a.Outcome, a.Note = Skipped, "its restart "+target+" was rejected for a data error; fix the file and reprocess it"
	default:
		a.Outcome = string(outcome)
	}
	return a
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// RedriveFailed restarts every execution that failed, timed out or was aborted since since, except the
// rejected files, which are listed as skipped. Each content is restarted once, by its latest execution.
func (o *Ops) RedriveFailed(ctx context.Context, since time.Time, dry bool) ([]Action, error) {
	var out []Action
	done := map[string]bool{}
	for _, status := range []string{states.Failed, states.TimedOut, states.Aborted} {
		list, err := o.Executions(ctx, status, since, 0)
		if err != nil {
			return nil, err
		}
		for _, x := range list {
			base := workflow.RestartBase(x.Name)
			if done[base] {
				continue
			}
			done[base] = true
			out = append(out, o.restart(ctx, x, dry, false))
		}
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
func (o *Ops) Reprocess(ctx context.Context, target string, opts ReprocessOptions, dry bool) (Action, error) {
	var file workflow.FileRef
	if strings.Contains(target, "/") { // an execution name has none
		var err error
		if file, err = o.object(ctx, target); err != nil {
			return Action{}, err
		}
	} else {
		x, err := o.Describe(ctx, target)
		var none *NoExecutionError
		if errors.As(err, &none) {
			return Action{}, fmt.Errorf("%q is neither an object address (s3://bucket/key) nor an execution of %s; settle aws executions lists them", target, o.machineName())
		}
		if err != nil {
			return Action{}, err
		}
		if file, err = o.object(ctx, x.File.URL()); err != nil {
			return Action{}, err
		}
	}
	pol := opts.Policy
	if pol.Empty() {
		pol = nil
	}
	input, _ := json.Marshal(workflow.ExecutionInput{File: file, Replace: opts.Replace, Policy: pol})
	return o.fresh(ctx, file, input, !opts.Replace && pol == nil, dry)
}

// object heads an object of the stack's raw bucket.
func (o *Ops) object(ctx context.Context, s3url string) (workflow.FileRef, error) {
	bucket, key, err := parseS3URL(s3url)
	if err != nil {
		return workflow.FileRef{}, err
	}
	if raw := o.Stack.Out(OutRawBucket); bucket != raw {
		return workflow.FileRef{}, fmt.Errorf("s3://%s/%s is not in the stack's raw bucket %s; copy it there (aws s3 cp) and it is processed on arrival", bucket, key, raw)
	}
	head, err := o.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey") {
		return workflow.FileRef{}, fmt.Errorf("s3://%s/%s does not exist; aws s3 ls s3://%s/%s lists what is there", bucket, key, bucket, parentPrefix(key))
	}
	if err != nil {
		return workflow.FileRef{}, explain("head s3://"+bucket+"/"+key, o.Stack.Region, err)
	}
	return workflow.FileRef{Bucket: bucket, Key: key, ETag: store.UnquoteETag(aws.ToString(head.ETag)), Size: aws.ToInt64(head.ContentLength)}, nil
}

// fresh starts a new execution of a file with input: named by its ETag when useETagName and that name
// is free, else "<etag name>-pN" with the first N not taken. A running execution of it is reported as
// a duplicate instead.
func (o *Ops) fresh(ctx context.Context, file workflow.FileRef, input []byte, useETagName, dry bool) (Action, error) {
	a := Action{File: file, Execution: workflow.ExecutionName(file.ETag)}
	exec := o.executions(dry)
	var candidates []string
	if useETagName {
		candidates = append(candidates, a.Execution)
	}
	for n := 1; n <= 50; n++ {
		candidates = append(candidates, a.Execution+"-p"+strconv.Itoa(n))
	}
	for _, name := range candidates {
		info, err := exec.Describe(ctx, name)
		var dne *sfntypes.ExecutionDoesNotExist
		switch {
		case errors.As(err, &dne):
			if err := exec.Start(ctx, name, input); err != nil {
				a.Outcome, a.Target, a.Err = Failed, name, explain("start "+name, o.Stack.Region, err)
				return a, a.Err
			}
			a.Outcome, a.Target = string(workflow.Started), name
			var in workflow.ExecutionInput
			if json.Unmarshal(input, &in) == nil {
				a.Note = ReprocessNote(in)
			}
			return a, nil
		case err != nil:
			return a, explain("describe "+name, o.Stack.Region, err)
		case info.Status == states.Running:
			a.Outcome, a.Target, a.Note = string(workflow.Duplicate), name, "this file is being processed now"
			return a, nil
		}
	}
	return a, fmt.Errorf("%s has been reprocessed 50 times; look at settle aws executions before trying again", file.URL())
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

// parseS3URL splits s3://bucket/key as the AWS CLI writes it: the key as is, not URL-encoded.
func parseS3URL(s string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		return "", "", fmt.Errorf("%q is not an object address; write it as s3://bucket/key", s)
	}
	return bucket, key, nil
}

func parentPrefix(key string) string {
	if i := strings.LastIndex(key, "/"); i >= 0 {
		return key[:i+1]
	}
	return ""
}
