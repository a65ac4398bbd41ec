package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/states"
)

// Config configures an Engine.
type Config struct {
	// Definition is the ASL JSON, with ${Name} placeholders.
	Definition []byte
	// Substitutions gives every ${Name} of Definition its value (inserted JSON-escaped). A placeholder
	// without a value, or a value whose placeholder does not appear, is an error.
	Substitutions map[string]string
	// StateMachineARN names the machine, e.g. arn:aws:states:local:000000000000:stateMachine:settlement.
	StateMachineARN string
	// Resources maps every Task's Resource (after substitution) to the function that runs it.
	Resources map[string]TaskFunc
	// Dir is the execution store directory, created if missing. One directory per state machine.
	Dir string
	// Clock is the engine's time; nil means RealClock.
	Clock Clock
	// Rand returns numbers in [0,1) for FULL jitter; nil means math/rand/v2. It is called from every
	// running execution, so it must be safe for concurrent use.
	Rand func() float64
	// RoleARN is reported as the execution's role ($$.Execution.RoleARN, ExecutionStarted);
	// empty means arn:aws:iam::<account>:role/<state machine name>.
	RoleARN string
	// Observe, when set, is called after each history event of an execution this engine runs has been
	// stored, in the goroutine that runs it (progress displays; crash tests stop the process there).
	Observe func(execution string, ev Event)
}

// Engine runs executions of one state machine and keeps them in Config.Dir. It is safe for
// concurrent use, and several processes may share one Dir.
type Engine struct {
	def         *definition
	machineARN  string
	machineName string
	region      string
	account     string
	roleARN     string
	store       fileStore
	clock       Clock
	rand        func() float64
	observe     func(string, Event)
	owner       *owner
}

const (
	maxPayload      = 256 * 1024 // bytes, for the execution input and every state's input and output
	redrivePeriod   = 14 * 24 * time.Hour
	maxRedriveCount = 1000
)

var (
	placeholderRE = regexp.MustCompile(`\$\{([^}]*)\}`)
	machineArnRE  = regexp.MustCompile(`^arn:aws:states:([a-z0-9-]+):([0-9]{12}):stateMachine:([0-9A-Za-z_-]{1,80})$`)
	nameRE        = regexp.MustCompile(`^[0-9A-Za-z_-]+$`)
)

// New substitutes, parses and validates the definition. Anything this engine does not implement is
// refused with a *DefinitionError naming the state and the feature.
func New(cfg Config) (*Engine, error) {
	m := machineArnRE.FindStringSubmatch(cfg.StateMachineARN)
	if m == nil {
		return nil, fmt.Errorf("sfn: StateMachineArn %q is not of the form arn:aws:states:<region>:<account>:stateMachine:<name>", cfg.StateMachineARN)
	}
	if cfg.Dir == "" {
		return nil, errors.New("sfn: Config.Dir is required")
	}
	doc, err := substitute(cfg.Definition, cfg.Substitutions)
	if err != nil {
		return nil, err
	}
	def, err := parseDefinition(doc, cfg.Resources)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, lockDirName), 0o755); err != nil {
		return nil, fmt.Errorf("sfn: create execution store: %w", err)
	}
	e := &Engine{
		def:         def,
		machineARN:  cfg.StateMachineARN,
		region:      m[1],
		account:     m[2],
		machineName: m[3],
		roleARN:     cfg.RoleARN,
		store:       fileStore{dir: cfg.Dir},
		clock:       cfg.Clock,
		rand:        cfg.Rand,
		observe:     cfg.Observe,
		owner:       thisProcess(),
	}
	if e.roleARN == "" {
		e.roleARN = fmt.Sprintf("arn:aws:iam::%s:role/%s", e.account, e.machineName)
	}
	if e.clock == nil {
		e.clock = RealClock{}
	}
	if e.rand == nil {
		e.rand = rand.Float64
	}
	return e, nil
}

// substitute replaces every ${Name} placeholder, as SAM's DefinitionSubstitutions do, escaping the
// value for a JSON string.
func substitute(doc []byte, subs map[string]string) ([]byte, error) {
	used := map[string]bool{}
	var missing []string
	out := placeholderRE.ReplaceAllFunc(doc, func(ph []byte) []byte {
		name := string(ph[2 : len(ph)-1])
		v, ok := subs[name]
		if !ok {
			missing = append(missing, name)
			return ph
		}
		used[name] = true
		q, _ := json.Marshal(v)
		return q[1 : len(q)-1]
	})
	var unused []string
	for k := range subs {
		if !used[k] {
			unused = append(unused, k)
		}
	}
	sort.Strings(unused)
	switch {
	case len(missing) > 0:
		return nil, fmt.Errorf("sfn: no substitution for placeholder(s) %s", dedupe(missing))
	case len(unused) > 0:
		return nil, fmt.Errorf("sfn: substitution(s) %s match no ${...} placeholder in the definition", strings.Join(unused, ", "))
	}
	return out, nil
}

func dedupe(list []string) string {
	sort.Strings(list)
	var out []string
	for i, s := range list {
		if i == 0 || s != list[i-1] {
			out = append(out, "${"+s+"}")
		}
	}
	return strings.Join(out, ", ")
}

func (e *Engine) executionARN(name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", e.region, e.account, e.machineName, name)
}

func validateName(name string) error {
	switch {
	case name == "":
		return &InvalidNameError{Name: name, Reason: "the name is empty"}
	case len(name) > 80:
		return &InvalidNameError{Name: name, Reason: "the name is longer than 80 characters"}
	case !nameRE.MatchString(name):
		return &InvalidNameError{Name: name, Reason: "only 0-9, A-Z, a-z, - and _ are allowed"}
	}
	return nil
}

// Start starts an execution and runs it to completion in the caller's goroutine, then returns its
// description. As for a STANDARD state machine, a name already used by a RUNNING execution with
// byte-identical input returns that execution (it is not run again); a closed execution or a
// different input is *ExecutionAlreadyExistsError. An empty input means {}. If ctx ends while the
// execution runs, the execution is ABORTED (and can be redriven). A RUNNING execution whose process
// has died is ended as ABORTED first, so its name answers as a closed execution's.
func (e *Engine) Start(ctx context.Context, name string, input []byte) (*Execution, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(input))) == 0 {
		input = []byte("{}")
	}
	if len(input) > maxPayload {
		return nil, &InvalidExecutionInputError{Reason: fmt.Sprintf("the input is %d bytes, more than the 262144 allowed", len(input))}
	}
	val, err := decodeJSON(input)
	if err != nil {
		return nil, &InvalidExecutionInputError{Reason: err.Error()}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := e.clock.Now().UTC()
	rec := &record{
		Execution: Execution{
			Name:            name,
			ExecutionARN:    e.executionARN(name),
			StateMachineARN: e.machineARN,
			Status:          states.Running,
			Input:           json.RawMessage(encodeJSON(val)),
			StartDate:       now,
		},
		InputText: string(input),
		Owner:     e.owner,
	}
	rec.Events = append(rec.Events, Event{
		ID: 1, Timestamp: now, Type: EventExecutionStarted,
		ExecutionStartedEventDetails: &ExecutionStartedEventDetails{Input: string(input), RoleARN: e.roleARN},
	})

	// Under the gate: take the lease, then reserve the name. A lease held by someone else means a live
	// process runs this execution; a free lease with an existing RUNNING record means its process died.
	unlock, err := e.store.gate()
	if err != nil {
		return nil, err
	}
	release, free, err := e.store.tryLease(name)
	if err != nil {
		unlock()
		return nil, err
	}
	if !free {
		unlock()
		existing, err := e.store.load(name)
		if err != nil {
			return nil, err
		}
		if existing.Execution.StateMachineARN == e.machineARN && existing.Execution.Status == states.Running && existing.InputText == string(input) {
			return e.describe(existing), nil
		}
		return nil, &ExecutionAlreadyExistsError{ExecutionARN: e.executionARN(name)}
	}
	created, err := e.store.create(rec)
	if err != nil || !created {
		var ended *Event
		if err == nil {
			var existing *record
			if existing, err = e.store.load(name); err == nil && existing.Execution.Status == states.Running && existing.Execution.StateMachineARN == e.machineARN {
				ended, err = e.endOrphan(existing)
			}
		}
		release()
		unlock()
		e.notify(name, ended)
		if err != nil {
			return nil, err
		}
		return nil, &ExecutionAlreadyExistsError{ExecutionARN: e.executionARN(name)}
	}
	unlock()
	defer release()
	e.notify(name, &rec.Events[0])
	r := &runner{e: e, rec: rec, execInput: val}
	if err := r.run(ctx, e.def.startAt, val); err != nil {
		return nil, err
	}
	return e.describe(rec), nil
}

// notify passes a stored event to the observer.
func (e *Engine) notify(name string, ev *Event) {
	if e.observe != nil && ev != nil {
		e.observe(name, *ev)
	}
}

// Describe returns the stored description of an execution.
func (e *Engine) Describe(name string) (*Execution, error) {
	rec, err := e.load(name)
	if err != nil {
		return nil, err
	}
	return e.describe(rec), nil
}

// History returns an execution's events, oldest first.
func (e *Engine) History(name string) ([]Event, error) {
	rec, err := e.load(name)
	if err != nil {
		return nil, err
	}
	return rec.Events, nil
}

// List describes this state machine's executions, newest first.
func (e *Engine) List() ([]*Execution, error) {
	names, err := e.store.names()
	if err != nil {
		return nil, err
	}
	var list []*Execution
	for _, n := range names {
		rec, err := e.store.load(n)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rec.Execution.StateMachineARN != e.machineARN {
			continue
		}
		if rec, err = e.current(rec); err != nil {
			return nil, err
		}
		list = append(list, e.describe(rec))
	}
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].StartDate.Equal(list[j].StartDate) {
			return list[i].StartDate.After(list[j].StartDate)
		}
		return list[i].Name > list[j].Name
	})
	return list, nil
}

// load reads an execution as it now is: a RUNNING one whose process is gone is ended first.
func (e *Engine) load(name string) (*record, error) {
	if validateName(name) != nil {
		return nil, &ExecutionDoesNotExistError{ExecutionARN: e.executionARN(name)}
	}
	rec, err := e.store.load(name)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && rec.Execution.StateMachineARN != e.machineARN) {
		return nil, &ExecutionDoesNotExistError{ExecutionARN: e.executionARN(name)}
	}
	if err != nil {
		return nil, err
	}
	return e.current(rec)
}

// current returns rec, unless it is RUNNING and no process holds its lease: then the process that ran
// it died (killed, out of memory, the machine stopped) and it is ended as ABORTED, by whichever reader
// gets the gate first, once. In AWS an execution does not die with a process; here it must not pretend
// to run, or its file would count as a duplicate forever and refuse every redrive. A reader that cannot
// take the locks (no write access to the store) gets the record as stored.
func (e *Engine) current(rec *record) (*record, error) {
	if rec.Execution.Status != states.Running {
		return rec, nil
	}
	name := rec.Execution.Name
	unlock, err := e.store.gate()
	if err != nil { // a reader without write access to the store: show the record as stored
		return rec, nil
	}
	defer unlock()
	release, free, err := e.store.tryLease(name)
	if err != nil || !free {
		return rec, nil
	}
	defer release()
	if rec, err = e.store.load(name); err != nil { // it may have ended, or been ended, since it was read
		return nil, err
	}
	if rec.Execution.Status == states.Running {
		if _, err := e.endOrphan(rec); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// endOrphan ends a RUNNING execution whose process is gone as ABORTED at the state it was in (the last
// state entered, with the input it entered with; the start state before any), so that a redrive resumes
// there, as it does for an execution stopped in that state. The caller holds the gate and the lease.
func (e *Engine) endOrphan(rec *record) (*Event, error) {
	from, input := e.def.startAt, string(rec.Execution.Input)
	for i := len(rec.Events) - 1; i >= 0; i-- {
		if d := rec.Events[i].StateEnteredEventDetails; d != nil {
			from, input = d.Name, d.Input
			break
		}
	}
	cause := "the process running it ended without finishing it"
	if o := rec.Owner; o != nil {
		cause = fmt.Sprintf("the %s process running it (pid %d) ended without finishing it", o.Command, o.PID)
	}
	x := &rec.Execution
	x.Status, x.Error, x.Cause = states.Aborted, "", cause
	x.StopDate = e.clock.Now().UTC()
	x.FailedState, x.FailedStateInput = from, json.RawMessage(input)
	r := &runner{e: e, rec: rec}
	ev := Event{Type: EventExecutionAborted, Timestamp: x.StopDate, ExecutionAbortedEventDetails: &ErrorEventDetails{Cause: cause}}
	if err := r.store(ev); err != nil {
		return nil, err
	}
	return &rec.Events[len(rec.Events)-1], nil
}

// describe copies the execution and works out its redrive status at the current time.
func (e *Engine) describe(rec *record) *Execution {
	x := rec.Execution
	if reason := e.notRedrivable(&x); reason != "" {
		x.RedriveStatus, x.RedriveStatusReason = states.NotRedrivable, reason
	} else {
		x.RedriveStatus, x.RedriveStatusReason = states.Redrivable, ""
	}
	return &x
}

// notRedrivable returns why the execution cannot be redriven now, or "".
func (e *Engine) notRedrivable(x *Execution) string {
	switch x.Status {
	case states.Failed, states.TimedOut, states.Aborted:
	default:
		return fmt.Sprintf("Execution is %s and cannot be redriven", x.Status)
	}
	switch {
	case e.clock.Now().Sub(x.StopDate) > redrivePeriod:
		return "Execution can no longer be redriven: it closed more than 14 days ago"
	case x.RedriveCount >= maxRedriveCount:
		return fmt.Sprintf("Execution has been redriven the maximum of %d times", maxRedriveCount)
	case x.FailedState == "" || e.def.states[x.FailedState] == nil:
		return "Execution has no failed state to restart from"
	}
	return ""
}

// Redrive restarts a FAILED, TIMED_OUT or ABORTED execution from the state where it stopped, with the
// input that state received and fresh retry counters, and runs it to completion in the caller's
// goroutine. An execution that a Catch routed into a Fail state failed in that Fail state, so its
// redrive re-enters the Fail state and fails again, as in Step Functions.
func (e *Engine) Redrive(ctx context.Context, name string) (*Execution, error) {
	rec, err := e.load(name)
	if err != nil {
		return nil, err
	}
	arn := e.executionARN(name)
	if reason := e.notRedrivable(&rec.Execution); reason != "" {
		return nil, &ExecutionNotRedrivableError{ExecutionARN: arn, Reason: reason}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	seen := rec.Execution.RedriveCount
	r, release, err := e.beginRedrive(name, seen)
	if err != nil {
		return nil, err
	}
	defer release()
	rec = r.rec
	e.notify(name, &rec.Events[len(rec.Events)-1])
	if err := r.run(ctx, r.from, r.fromInput); err != nil {
		return nil, err
	}
	return e.describe(rec), nil
}

// redrive is a redrive about to run: its runner and where it resumes.
type redrive struct {
	*runner
	from      string
	fromInput any
}

// beginRedrive takes the execution's lease and records the redrive (RUNNING, ExecutionRedriven) under
// the gate, so that of two callers in any processes only one redrives; seen is the redrive count the
// caller judged the execution by. The lease is the caller's to release once the execution has ended.
func (e *Engine) beginRedrive(name string, seen int) (*redrive, func(), error) {
	arn := e.executionARN(name)
	unlock, err := e.store.gate()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	release, free, err := e.store.tryLease(name)
	if err != nil {
		return nil, nil, err
	}
	if !free {
		return nil, nil, &ExecutionNotRedrivableError{ExecutionARN: arn, Reason: "Execution is RUNNING and cannot be redriven"}
	}
	r, err := e.recordRedrive(name, seen)
	if err != nil {
		release()
		return nil, nil, err
	}
	return r, release, nil
}

func (e *Engine) recordRedrive(name string, seen int) (*redrive, error) {
	arn := e.executionARN(name)
	rec, err := e.store.load(name) // again, under the gate: another caller may have redriven it meanwhile
	if err != nil {
		return nil, err
	}
	if rec.Execution.Status == states.Running { // we hold its lease: its process is gone
		if _, err := e.endOrphan(rec); err != nil {
			return nil, err
		}
	}
	if reason := e.notRedrivable(&rec.Execution); reason != "" || rec.Execution.RedriveCount != seen {
		if reason == "" {
			reason = "Execution was redriven by another caller"
		}
		return nil, &ExecutionNotRedrivableError{ExecutionARN: arn, Reason: reason}
	}
	execInput, err := decodeJSON([]byte(rec.InputText))
	if err != nil {
		return nil, fmt.Errorf("sfn: stored input of %s: %w", name, err)
	}
	stateInput, err := decodeJSON(rec.Execution.FailedStateInput)
	if err != nil {
		return nil, fmt.Errorf("sfn: stored state input of %s: %w", name, err)
	}
	x := &rec.Execution
	from := x.FailedState
	n := x.RedriveCount + 1
	x.Status = states.Running
	x.RedriveCount = n
	x.RedriveDate = e.clock.Now().UTC()
	x.StopDate, x.Error, x.Cause, x.Output = time.Time{}, "", "", nil
	x.FailedState, x.FailedStateInput = "", nil
	rec.Owner = e.owner
	r := &runner{e: e, rec: rec, execInput: execInput}
	if err := r.store(Event{Type: EventExecutionRedriven, ExecutionRedrivenEventDetails: &ExecutionRedrivenEventDetails{RedriveCount: n}}); err != nil {
		return nil, err
	}
	return &redrive{runner: r, from: from, fromInput: stateInput}, nil
}
