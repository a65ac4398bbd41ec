package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// Operator makes the operator's decisions (what to redrive, what to restart as -rN, how a reprocess is
// named, which dead letters to delete, what a status counts) once, for a deployed stack and for a data
// folder alike. It reaches the deployment through the small interfaces below: Connect implements them
// with the AWS SDK, internal/local with the local engine and the data folder's queues.
type Operator struct {
	// Machine is the state machine's executions.
	Machine Executions
	Queues  Queues
	Files   Files
	// Processed is the processed bucket (manifests, ledgers, the table), or why there is none.
	Processed func() (store.Bucket, error)
	// Table opens the processed bucket's Iceberg table for the consistency check (icetable.ReaderFor);
	// nil checks the manifests and the Hive layout only.
	Table func(store.Bucket) workflow.TableReader
	// RawBucket names the raw bucket, where a fetched report is stored.
	RawBucket string
	// Policy is the batch policy the deployment's check runs with.
	Policy func() (ledger.Policy, error)
	// Stack is the deployed stack (zero for a data folder).
	Stack Stack
	// Command is a verb's command line in the operator's words: "settle aws show", or "settle show
	// --data d" for a data folder other than the default.
	Command func(verb string) string
	// Explain puts a failed call's error in one sentence ("cannot read the batch ledgers in …: …"); nil
	// leaves it as it is.
	Explain func(what string, err error) error
	// MaxFileBytes is the file size limit a reprocess runs under (MAX_FILE_BYTES; 0: the default).
	MaxFileBytes int64
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Executions are the state machine's executions: Step Functions, or the local engine's history.
type Executions interface {
	// List lists the executions with a status ("" for all) started at or after since (zero: all),
	// newest first, at most limit (0: all). An item carries at least its Name, Status, Start and Stop;
	// Describe gives the rest.
	List(ctx context.Context, status string, since time.Time, limit int) ([]Execution, error)
	// Describe describes one execution: an error wrapping ErrNoExecution when no execution has the name.
	Describe(ctx context.Context, name string) (Execution, error)
	// History is an execution's events, oldest first. An event carries its own details (State for a
	// state's events, Detail for a resource or a redrive, Error and Cause for a failure); the operator
	// annotates them.
	History(ctx context.Context, name string) ([]Event, error)
	// Start starts an execution: an error wrapping workflow.ErrExecutionExists when the name is taken.
	// The local engine runs it to its end before returning.
	Start(ctx context.Context, name string, input []byte) error
	// Redrive redrives a failed execution from the step that failed.
	Redrive(ctx context.Context, name string) error
}

// Message is one message of a queue as the operator reads it, without consuming it.
type Message struct {
	ID       string
	Body     string
	Sent     time.Time
	Receives int
	// Handle is what deletes or releases the message (SQS's receipt handle; the local file).
	Handle string
}

// Queues are the deployment's queues: SQS, or the data folder's files.
type Queues interface {
	// Depths are the message counts of every queue the deployment has, in the order status prints them.
	Depths(ctx context.Context) ([]QueueDepth, error)
	// DeadLetterQueues are the dead-letter queues the deployment has (QueueIngestDLQ, QueueFailed,
	// QueueFetchDLQ), in listing order.
	DeadLetterQueues() []string
	// Receive reads up to max messages of a queue, oldest first, keeping them from other readers for
	// hold (until Release or Delete).
	Receive(ctx context.Context, queue string, max int, hold time.Duration) ([]Message, error)
	// Release gives received messages back to the queue at once.
	Release(ctx context.Context, queue string, msgs []Message)
	Delete(ctx context.Context, queue string, m Message) error
	Send(ctx context.Context, queue string, body []byte) error
	// MoveAll moves every message of queue from to queue to (a dry run only counts them).
	MoveAll(ctx context.Context, from, to string, dry bool) (MoveTask, error)
}

// Files find the raw object a reprocess names.
type Files interface {
	// Object is the raw object target names (an s3:// address on a stack; a file, uploaded into the raw
	// bucket unless dry, locally), or found = false when target names no file (it may name an
	// execution).
	Object(ctx context.Context, target string, dry bool) (f workflow.FileRef, found bool, err error)
	// Current is an execution's file as the raw bucket holds it now.
	Current(ctx context.Context, execution string, f workflow.FileRef) (workflow.FileRef, error)
	// Unknown is the error for a target that names neither a file nor an execution.
	Unknown(target string) error
}

// ErrNoExecution is wrapped by the error of Executions.Describe for a name no execution has.
var ErrNoExecution = errors.New("no such execution")

// NoExecutionError is the error for an unknown execution name, in the operator's words.
type NoExecutionError struct {
	Name  string
	Where string // "state machine settlement", or the data folder
	List  string // the command that lists the executions
}

func (e *NoExecutionError) Error() string {
	return fmt.Sprintf("there is no execution named %q in %s; %s lists them", e.Name, e.Where, e.List)
}

func (e *NoExecutionError) Unwrap() error { return ErrNoExecution }

func (o *Operator) clock() time.Time {
	if o.Now == nil {
		return time.Now().UTC()
	}
	return o.Now().UTC()
}

func (o *Operator) command(verb string) string {
	if o.Command == nil {
		return "settle " + verb
	}
	return o.Command(verb)
}

func (o *Operator) explain(what string, err error) error {
	if o.Explain == nil || err == nil {
		return err
	}
	return o.Explain(what, err)
}

// launcher is the operator's executions for workflow.Launch: a start describes the name first, so that
// a start of a running execution's name is reported as taken (StartExecution would answer it with the
// running execution, as if it had started it; the local engine reports it the same way); a dry one
// describes for real but only pretends to start and redrive.
type launcher struct {
	x   Executions
	dry bool
}

func (l launcher) Start(ctx context.Context, name string, input []byte) error {
	_, err := l.x.Describe(ctx, name)
	switch {
	case errors.Is(err, ErrNoExecution):
	case err != nil:
		return err
	default:
		return fmt.Errorf("%w: %s", workflow.ErrExecutionExists, name)
	}
	if l.dry {
		return nil
	}
	return l.x.Start(ctx, name, input)
}

func (l launcher) Describe(ctx context.Context, name string) (workflow.ExecutionInfo, error) {
	x, err := l.x.Describe(ctx, name)
	if err != nil {
		return workflow.ExecutionInfo{}, err
	}
	return workflow.ExecutionInfo{Name: x.Name, Status: x.Status, Redrivable: x.RedriveStatus == states.Redrivable, Error: x.Error}, nil
}

func (l launcher) Redrive(ctx context.Context, name string) error {
	if l.dry {
		return nil
	}
	return l.x.Redrive(ctx, name)
}

// remedy is what would let a file rejected with the data error errName through (workflow.ReadRemedy):
// the zero Remedy when nothing more than the error's name is known.
func (o *Operator) remedy(ctx context.Context, errName string, f workflow.FileRef) workflow.Remedy {
	if !workflow.IsDataError(errName) || o.Processed == nil {
		return workflow.Remedy{}
	}
	b, err := o.Processed()
	if err != nil {
		return workflow.Remedy{}
	}
	r, _ := workflow.ReadRemedy(ctx, b, workflow.Rejection{Error: errName, File: f, MaxFileBytes: o.MaxFileBytes})
	return r
}
