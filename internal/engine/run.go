package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paysettle/settle/internal/states"
)

// failure is an error raised while running a state: a task error (subject to Retry and Catch) or,
// from data processing, a terminal error that fails the execution.
type failure struct {
	name, cause string
}

func runtimeFailure(format string, args ...any) *failure {
	return &failure{name: "States.Runtime", cause: fmt.Sprintf(format, args...)}
}

// clip shortens a JSON text quoted in an error cause.
func clip(s string) string {
	const max = 1000
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// runner runs one execution, from its start or from a redrive, appending events to rec and saving rec
// after every event.
type runner struct {
	e         *Engine
	rec       *record
	execInput any
}

// stop is how a state ends the execution.
type stop struct {
	status      states.Status // FAILED or ABORTED
	name, cause string
}

func (r *runner) now() time.Time { return r.e.clock.Now().UTC() }

// emit stores an event of a running execution and tells the observer.
func (r *runner) emit(ev Event) error {
	if err := r.store(ev); err != nil {
		return err
	}
	r.e.notify(r.rec.Execution.Name, &r.rec.Events[len(r.rec.Events)-1])
	return nil
}

// store appends an event to the history and saves the record.
func (r *runner) store(ev Event) error {
	n := int64(len(r.rec.Events))
	ev.ID = n + 1
	ev.PreviousEventID = n
	if ev.Timestamp.IsZero() {
		ev.Timestamp = r.now()
	}
	r.rec.Events = append(r.rec.Events, ev)
	return r.e.store.save(r.rec)
}

// run executes states from name with input until the execution closes. The error is a persistence
// failure only; execution failures are recorded in rec.
func (r *runner) run(ctx context.Context, name string, input any) error {
	for {
		st := r.e.def.states[name]
		next, output, end, halt, err := r.state(ctx, st, input)
		if err != nil {
			return err
		}
		if halt != nil {
			return r.close(halt, st.name, input)
		}
		if end {
			x := &r.rec.Execution
			x.Status = states.Succeeded
			x.Output = json.RawMessage(encodeJSON(output))
			x.StopDate = r.now()
			return r.emit(Event{Type: EventExecutionSucceeded, Timestamp: x.StopDate, ExecutionSucceededEventDetails: &ExecutionSucceededEventDetails{Output: encodeJSON(output)}})
		}
		name, input = next, output
	}
}

func (r *runner) close(s *stop, stateName string, input any) error {
	x := &r.rec.Execution
	x.Status = s.status
	x.Error, x.Cause = s.name, s.cause
	x.StopDate = r.now()
	x.FailedState = stateName
	x.FailedStateInput = json.RawMessage(encodeJSON(input))
	ev := Event{Type: EventExecutionFailed, Timestamp: x.StopDate, ExecutionFailedEventDetails: &ErrorEventDetails{Error: s.name, Cause: s.cause}}
	if s.status == states.Aborted {
		ev = Event{Type: EventExecutionAborted, Timestamp: x.StopDate, ExecutionAbortedEventDetails: &ErrorEventDetails{Error: s.name, Cause: s.cause}}
	}
	return r.emit(ev)
}

// contextObject is $$ for a state.
func (r *runner) contextObject(stateName string, entered time.Time, retryCount int) any {
	x := &r.rec.Execution
	ex := newObject()
	ex.set("Id", x.ExecutionARN)
	ex.set("Input", r.execInput)
	ex.set("Name", x.Name)
	ex.set("RoleArn", r.e.roleARN)
	ex.set("StartTime", formatTime(x.StartDate))
	ex.set("RedriveCount", json.Number(fmt.Sprint(x.RedriveCount)))
	if !x.RedriveDate.IsZero() {
		ex.set("RedriveTime", formatTime(x.RedriveDate))
	}
	st := newObject()
	st.set("EnteredTime", formatTime(entered))
	st.set("Name", stateName)
	st.set("RetryCount", json.Number(fmt.Sprint(retryCount)))
	sm := newObject()
	sm.set("Id", r.e.machineARN)
	sm.set("Name", r.e.machineName)
	c := newObject()
	c.set("Execution", ex)
	c.set("State", st)
	c.set("StateMachine", sm)
	return c
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// limit enforces the 256 KiB payload quota on a state's input or output (States.DataLimitExceeded,
// which States.ALL does not catch).
func limit(what string, v any) *failure {
	if n := len(encodeJSON(v)); n > maxPayload {
		return &failure{name: "States.DataLimitExceeded", cause: fmt.Sprintf("the %s is %d bytes, more than the 262144 allowed", what, n)}
	}
	return nil
}

// state runs one state. It returns the next state and its input, or end, or halt.
func (r *runner) state(ctx context.Context, st *state, input any) (next string, output any, end bool, halt *stop, err error) {
	entered := r.now()
	enteredType := st.typ + "StateEntered"
	if err := r.emit(Event{Type: enteredType, Timestamp: entered, StateEnteredEventDetails: &StateEnteredEventDetails{Name: st.name, Input: encodeJSON(input)}}); err != nil {
		return "", nil, false, nil, err
	}
	enteredID := int64(len(r.rec.Events))
	fail := func(f *failure) *stop {
		return &stop{status: states.Failed, name: f.name, cause: fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). %s", st.name, enteredID, f.cause)}
	}
	ctxObj := r.contextObject(st.name, entered, 0)

	var out any
	var f *failure
	switch st.typ {
	case "Task":
		// task emits its own exit event (also when a catcher handles the error).
		next, out, h, err := r.task(ctx, st, input, entered, fail)
		if err != nil || h != nil {
			return "", nil, false, h, err
		}
		return next, out, next == "", nil, nil
	case "Pass":
		out, f = r.pass(st, input, ctxObj)
		next = st.next
	case "Choice":
		next, out, f = r.choice(st, input, ctxObj)
	case "Succeed":
		out, f = st.inputPath.apply(input)
		if f == nil {
			out, f = st.outputPath.apply(out)
		}
	case "Fail":
		return "", nil, false, r.failState(st, input, ctxObj, fail), nil
	}
	if f == nil {
		f = limit("output of the state", out)
	}
	if f != nil {
		return "", nil, false, fail(f), nil
	}
	if err := r.emit(Event{Type: st.typ + "StateExited", StateExitedEventDetails: &StateExitedEventDetails{Name: st.name, Output: encodeJSON(out)}}); err != nil {
		return "", nil, false, nil, err
	}
	return next, out, next == "", nil, nil
}

func (r *runner) pass(st *state, raw, ctxObj any) (any, *failure) {
	eff, f := st.inputPath.apply(raw)
	if f != nil {
		return nil, f
	}
	if st.parameters != nil {
		if eff, f = st.parameters.eval(eff, ctxObj); f != nil {
			return nil, f
		}
	}
	result := eff
	if st.hasResult {
		result = cloneValue(st.result)
	}
	out, f := st.resultPath.apply(raw, result)
	if f != nil {
		return nil, f
	}
	return st.outputPath.apply(out)
}

func (r *runner) choice(st *state, raw, ctxObj any) (string, any, *failure) {
	eff, f := st.inputPath.apply(raw)
	if f != nil {
		return "", nil, f
	}
	next := ""
	for _, rule := range st.choices {
		m, f := rule.match(eff, ctxObj)
		if f != nil {
			return "", nil, f
		}
		if m {
			next = rule.next
			break
		}
	}
	if next == "" {
		next = st.defaultNext
	}
	if next == "" {
		return "", nil, &failure{name: "States.NoChoiceMatched", cause: "No Choice rule matched the input and the state has no Default."}
	}
	out, f := st.outputPath.apply(eff)
	return next, out, f
}

func (r *runner) failState(st *state, raw, ctxObj any, fail func(*failure) *stop) *stop {
	value := func(lit string, e expr, field string) (string, *failure) {
		if e == nil {
			return lit, nil
		}
		v, f := e.eval(raw, ctxObj)
		if f != nil {
			return "", f
		}
		s, ok := v.(string)
		if !ok {
			return "", runtimeFailure("the %s of the Fail state is a %s, not a string", field, typeName(v))
		}
		return s, nil
	}
	name, f := value(st.errorLit, st.errorExpr, "ErrorPath")
	if f != nil {
		return fail(f)
	}
	cause, f := value(st.causeLit, st.causeExpr, "CausePath")
	if f != nil {
		return fail(f)
	}
	return &stop{status: states.Failed, name: name, cause: cause}
}

// task runs a Task state: InputPath → Parameters → resource (with Retry) → ResultSelector →
// ResultPath → OutputPath, or Catch.
func (r *runner) task(ctx context.Context, st *state, raw any, entered time.Time, fail func(*failure) *stop) (string, any, *stop, error) {
	attempts := make([]int, len(st.retry)) // per retrier, reset whenever the state is entered
	retries := 0
	for {
		eff, f := st.inputPath.apply(raw)
		if f == nil && st.parameters != nil {
			eff, f = st.parameters.eval(eff, r.contextObject(st.name, entered, retries))
		}
		if f == nil {
			f = limit("input of the task", eff)
		}
		if f != nil {
			return "", nil, fail(f), nil
		}
		result, taskErr, err := r.invoke(ctx, st, eff)
		if err != nil {
			return "", nil, nil, err
		}
		if ctx.Err() != nil {
			return "", nil, &stop{status: states.Aborted, cause: "the execution was stopped: " + ctx.Err().Error()}, nil
		}
		if taskErr == nil {
			out := result
			if st.resultSelector != nil {
				if out, f = st.resultSelector.eval(result, r.contextObject(st.name, entered, retries)); f != nil {
					return "", nil, fail(f), nil
				}
			}
			if out, f = st.resultPath.apply(raw, out); f != nil {
				return "", nil, fail(f), nil
			}
			if out, f = st.outputPath.apply(out); f != nil {
				return "", nil, fail(f), nil
			}
			if f = limit("output of the state", out); f != nil {
				return "", nil, fail(f), nil
			}
			if err := r.emit(Event{Type: EventTaskStateExited, StateExitedEventDetails: &StateExitedEventDetails{Name: st.name, Output: encodeJSON(out)}}); err != nil {
				return "", nil, nil, err
			}
			return st.next, out, nil, nil
		}
		if taskErr.name == "States.Runtime" || taskErr.name == "States.DataLimitExceeded" && !matchesExactly(st, taskErr.name) {
			return "", nil, fail(taskErr), nil
		}
		// The first retrier whose ErrorEquals matches decides; when it is exhausted the error goes
		// to Catch, later retriers are never consulted.
		for i, rt := range st.retry {
			if !errorMatches(rt.errorEquals, taskErr.name) {
				continue
			}
			if attempts[i] < rt.maxAttempts {
				attempts[i]++
				retries++
				if err := r.e.clock.Sleep(ctx, rt.delay(attempts[i], r.e.rand)); err != nil {
					return "", nil, &stop{status: states.Aborted, cause: "the execution was stopped: " + err.Error()}, nil
				}
				taskErr = nil
			}
			break
		}
		if taskErr == nil {
			continue
		}
		for _, c := range st.catch {
			if !errorMatches(c.errorEquals, taskErr.name) {
				continue
			}
			errOut := newObject()
			errOut.set("Error", taskErr.name)
			errOut.set("Cause", taskErr.cause)
			out, f := c.resultPath.apply(raw, errOut)
			if f == nil {
				f = limit("output of the state", out)
			}
			if f != nil {
				return "", nil, fail(f), nil
			}
			if err := r.emit(Event{Type: EventTaskStateExited, StateExitedEventDetails: &StateExitedEventDetails{Name: st.name, Output: encodeJSON(out)}}); err != nil {
				return "", nil, nil, err
			}
			return c.next, out, nil, nil
		}
		return "", nil, &stop{status: states.Failed, name: taskErr.name, cause: taskErr.cause}, nil
	}
}

// matchesExactly reports whether some retrier or catcher names the error itself (States.DataLimitExceeded
// can be handled that way, not by States.ALL).
func matchesExactly(st *state, name string) bool {
	for _, rt := range st.retry {
		for _, e := range rt.errorEquals {
			if e == name {
				return true
			}
		}
	}
	for _, c := range st.catch {
		for _, e := range c.errorEquals {
			if e == name {
				return true
			}
		}
	}
	return false
}

type taskResult struct {
	out json.RawMessage
	err error
}

// invoke calls the resource once, with its events. It returns the parsed result or the task error;
// err is a persistence failure.
func (r *runner) invoke(ctx context.Context, st *state, eff any) (any, *failure, error) {
	in := encodeJSON(eff)
	timeoutSecs := int64(st.timeout / time.Second)
	if st.kind == lambdaResource {
		if err := r.emit(Event{Type: EventLambdaFunctionScheduled, LambdaFunctionScheduledEventDetails: &LambdaFunctionScheduledEventDetails{Resource: st.resource, Input: in, TimeoutInSeconds: timeoutSecs}}); err != nil {
			return nil, nil, err
		}
		if err := r.emit(Event{Type: EventLambdaFunctionStarted}); err != nil {
			return nil, nil, err
		}
	} else {
		if err := r.emit(Event{Type: EventTaskScheduled, TaskScheduledEventDetails: &TaskScheduledEventDetails{ResourceType: st.serviceType, Resource: st.serviceAction, Region: r.e.region, Parameters: in, TimeoutInSeconds: timeoutSecs}}); err != nil {
			return nil, nil, err
		}
		if err := r.emit(Event{Type: EventTaskStarted, TaskStartedEventDetails: &TaskStartedEventDetails{ResourceType: st.serviceType, Resource: st.serviceAction}}); err != nil {
			return nil, nil, err
		}
	}

	taskCtx, cancel := ctx, context.CancelFunc(func() {})
	if st.timeout > 0 {
		if tc, ok := r.e.clock.(TimeoutClock); ok {
			taskCtx, cancel = tc.WithTimeout(ctx, st.timeout)
		} else {
			taskCtx, cancel = context.WithTimeout(ctx, st.timeout)
		}
	}
	defer cancel()
	done := make(chan taskResult, 1) // buffered: a timed-out task may finish after we stop waiting
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- taskResult{err: &TaskError{Name: states.ErrorName(p), Cause: fmt.Sprintf("%v", p)}}
			}
		}()
		out, err := st.fn(taskCtx, json.RawMessage(in))
		done <- taskResult{out, err}
	}()
	var res taskResult
	select {
	case res = <-done:
	case <-taskCtx.Done():
	}
	if ctx.Err() != nil {
		return nil, nil, nil // aborted: the caller records it
	}

	var f *failure
	var result any
	switch {
	case taskCtx.Err() != nil:
		f = &failure{name: "States.Timeout", cause: fmt.Sprintf("the task did not finish within TimeoutSeconds (%d)", timeoutSecs)}
	case res.err != nil:
		name, cause := taskErrorOf(res.err)
		f = &failure{name: name, cause: cause}
	default:
		raw := res.out
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		var err error
		if result, err = decodeJSON(raw); err != nil {
			f = runtimeFailure("the result of %s is not JSON: %v", st.resource, err)
		} else if f = limit("result of the task", result); f == nil {
			if st.kind == lambdaResource {
				return result, nil, r.emit(Event{Type: EventLambdaFunctionSucceeded, LambdaFunctionSucceededEventDetails: &OutputEventDetails{Output: encodeJSON(result)}})
			}
			return result, nil, r.emit(Event{Type: EventTaskSucceeded, TaskSucceededEventDetails: &TaskSucceededEventDetails{ResourceType: st.serviceType, Resource: st.serviceAction, Output: encodeJSON(result)}})
		}
	}
	timedOut := f.name == "States.Timeout" && taskCtx.Err() != nil
	var ev Event
	switch {
	case st.kind == lambdaResource && timedOut:
		ev = Event{Type: EventLambdaFunctionTimedOut, LambdaFunctionTimedOutEventDetails: &ErrorEventDetails{Error: f.name, Cause: f.cause}}
	case st.kind == lambdaResource:
		ev = Event{Type: EventLambdaFunctionFailed, LambdaFunctionFailedEventDetails: &ErrorEventDetails{Error: f.name, Cause: f.cause}}
	case timedOut:
		ev = Event{Type: EventTaskTimedOut, TaskTimedOutEventDetails: &TaskFailedEventDetails{ResourceType: st.serviceType, Resource: st.serviceAction, Error: f.name, Cause: f.cause}}
	default:
		ev = Event{Type: EventTaskFailed, TaskFailedEventDetails: &TaskFailedEventDetails{ResourceType: st.serviceType, Resource: st.serviceAction, Error: f.name, Cause: f.cause}}
	}
	return nil, f, r.emit(ev)
}
