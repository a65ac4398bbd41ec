package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config configures an Engine.
type Config struct {
	// Definition is the ASL JSON, with ${Name} placeholders.
	Definition []byte
	// Substitutions gives every ${Name} of Definition its value (inserted JSON-escaped). A placeholder
	// without a value, or a value whose placeholder does not appear, is an error.
	Substitutions map[string]string
	// StateMachineArn names the machine, e.g. arn:aws:states:local:000000000000:stateMachine:settlement.
	StateMachineArn string
	// Resources maps every Task's Resource (after substitution) to the function that runs it.
	Resources map[string]TaskFunc
	// Dir is the execution store directory, created if missing. One directory per state machine.
	Dir string
	// Clock is the engine's time; nil means RealClock.
	Clock Clock
	// Rand returns numbers in [0,1) for FULL jitter; nil means math/rand/v2. It is called from every
	// running execution, so it must be safe for concurrent use.
	Rand func() float64
	// RoleArn is reported as the execution's role ($$.Execution.RoleArn, ExecutionStarted);
	// empty means arn:aws:iam::<account>:role/<state machine name>.
	RoleArn string
}

// Engine runs executions of one state machine and keeps them in Config.Dir. It is safe for
// concurrent use, and several processes may share one Dir.
type Engine struct {
	def         *definition
	machineArn  string
	machineName string
	region      string
	account     string
	roleArn     string
	store       fileStore
	clock       Clock
	rand        func() float64

	// mu makes a name's reservation and first write atomic for the readers of this process.
	mu sync.Mutex
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
	m := machineArnRE.FindStringSubmatch(cfg.StateMachineArn)
	if m == nil {
		return nil, fmt.Errorf("sfn: StateMachineArn %q is not of the form arn:aws:states:<region>:<account>:stateMachine:<name>", cfg.StateMachineArn)
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
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("sfn: create execution store: %w", err)
	}
	e := &Engine{
		def:         def,
		machineArn:  cfg.StateMachineArn,
		region:      m[1],
		account:     m[2],
		machineName: m[3],
		roleArn:     cfg.RoleArn,
		store:       fileStore{dir: cfg.Dir},
		clock:       cfg.Clock,
		rand:        cfg.Rand,
	}
	if e.roleArn == "" {
		e.roleArn = fmt.Sprintf("arn:aws:iam::%s:role/%s", e.account, e.machineName)
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

func (e *Engine) executionArn(name string) string {
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
// execution runs, the execution is ABORTED (and can be redriven).
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
			ExecutionArn:    e.executionArn(name),
			StateMachineArn: e.machineArn,
			Status:          StatusRunning,
			Input:           json.RawMessage(encodeJSON(val)),
			StartDate:       now,
		},
		InputText: string(input),
	}
	rec.Events = append(rec.Events, Event{
		ID: 1, Timestamp: now, Type: EventExecutionStarted,
		ExecutionStartedEventDetails: &ExecutionStartedEventDetails{Input: string(input), RoleArn: e.roleArn},
	})

	e.mu.Lock()
	created, err := e.store.create(rec)
	var existing *record
	if err == nil && !created {
		existing, err = e.store.load(name)
	}
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !created {
		if existing.Execution.StateMachineArn == e.machineArn && existing.Execution.Status == StatusRunning && existing.InputText == string(input) {
			return e.describe(existing), nil
		}
		return nil, &ExecutionAlreadyExistsError{ExecutionArn: e.executionArn(name)}
	}
	r := &runner{e: e, rec: rec, execInput: val}
	if err := r.run(ctx, e.def.startAt, val); err != nil {
		return nil, err
	}
	return e.describe(rec), nil
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
		if rec.Execution.StateMachineArn != e.machineArn {
			continue
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

func (e *Engine) load(name string) (*record, error) {
	if validateName(name) != nil {
		return nil, &ExecutionDoesNotExistError{ExecutionArn: e.executionArn(name)}
	}
	rec, err := e.store.load(name)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && rec.Execution.StateMachineArn != e.machineArn) {
		return nil, &ExecutionDoesNotExistError{ExecutionArn: e.executionArn(name)}
	}
	return rec, err
}

// describe copies the execution and works out its redrive status at the current time.
func (e *Engine) describe(rec *record) *Execution {
	x := rec.Execution
	if reason := e.notRedrivable(&x); reason != "" {
		x.RedriveStatus, x.RedriveStatusReason = NotRedrivable, reason
	} else {
		x.RedriveStatus, x.RedriveStatusReason = Redrivable, ""
	}
	return &x
}

// notRedrivable returns why the execution cannot be redriven now, or "".
func (e *Engine) notRedrivable(x *Execution) string {
	switch x.Status {
	case StatusFailed, StatusTimedOut, StatusAborted:
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
	arn := e.executionArn(name)
	if reason := e.notRedrivable(&rec.Execution); reason != "" {
		return nil, &ExecutionNotRedrivableError{ExecutionArn: arn, Reason: reason}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := rec.Execution.RedriveCount + 1
	release, ok, err := e.store.claimRedrive(name, n)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &ExecutionNotRedrivableError{ExecutionArn: arn, Reason: "Execution is RUNNING and cannot be redriven"}
	}
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	// Re-read under the claim: another caller may have redriven it between our read and the claim.
	if rec, err = e.load(name); err != nil {
		return nil, err
	}
	if reason := e.notRedrivable(&rec.Execution); reason != "" || rec.Execution.RedriveCount != n-1 {
		if reason == "" {
			reason = "Execution was redriven by another caller"
		}
		return nil, &ExecutionNotRedrivableError{ExecutionArn: arn, Reason: reason}
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
	x.Status = StatusRunning
	x.RedriveCount = n
	x.RedriveDate = e.clock.Now().UTC()
	x.StopDate, x.Error, x.Cause, x.Output = time.Time{}, "", "", nil
	x.FailedState, x.FailedStateInput = "", nil
	r := &runner{e: e, rec: rec, execInput: execInput}
	if err := r.emit(Event{Type: EventExecutionRedriven, ExecutionRedrivenEventDetails: &ExecutionRedrivenEventDetails{RedriveCount: n}}); err != nil {
		return nil, err
	}
	release()
	released = true
	if err := r.run(ctx, from, stateInput); err != nil {
		return nil, err
	}
	return e.describe(rec), nil
}
