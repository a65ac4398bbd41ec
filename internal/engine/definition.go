package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// DefinitionError reports a definition the engine cannot run: invalid, or using a feature it does not
// implement. State names the state at fault ("" for the top level).
type DefinitionError struct {
	State string
	Msg   string
}

func (e *DefinitionError) Error() string {
	if e.State == "" {
		return "state machine definition: " + e.Msg
	}
	return fmt.Sprintf("state machine definition: state %q: %s", e.State, e.Msg)
}

type definition struct {
	startAt string
	states  map[string]*state
}

type resourceKind int

const (
	lambdaResource  resourceKind = iota // arn:aws:lambda:…:function:…
	serviceResource                     // arn:aws:states:::service:action
)

// optPath is InputPath or OutputPath: absent means "$", JSON null means "take {}".
type optPath struct {
	null bool
	p    refPath
}

func (o optPath) apply(v any) (any, *failure) {
	if o.null {
		return newObject(), nil
	}
	r, ok := o.p.get(v)
	if !ok {
		return nil, runtimeFailure("invalid path %s: the path could not be found in the input %s", o.p.raw, clip(encodeJSON(v)))
	}
	return r, nil
}

// resultPath is a state's (or a catcher's) ResultPath: JSON null discards the result.
type resultPath struct {
	discard bool
	p       refPath
}

func (r resultPath) apply(raw, result any) (any, *failure) {
	if r.discard {
		return raw, nil
	}
	out, err := r.p.set(raw, result)
	if err != nil {
		return nil, &failure{name: "States.ResultPathMatchFailure", cause: fmt.Sprintf("unable to apply ResultPath %s to input %s: %v", r.p.raw, clip(encodeJSON(raw)), err)}
	}
	return out, nil
}

type retrier struct {
	errorEquals []string
	interval    float64 // seconds
	maxAttempts int
	backoffRate float64
	maxDelay    float64 // seconds; 0 = no cap
	fullJitter  bool
}

// delay is the wait before retry attempt n (1-based) of this retrier: IntervalSeconds ×
// BackoffRate^(n−1), capped at MaxDelaySeconds. With JitterStrategy FULL the AWS documentation says
// the interval "is randomized between 0 and" that delay; with rnd in [0,1) the wait is uniform in
// [0, delay).
func (r *retrier) delay(n int, rnd func() float64) time.Duration {
	d := r.interval * math.Pow(r.backoffRate, float64(n-1))
	if r.maxDelay > 0 && d > r.maxDelay {
		d = r.maxDelay
	}
	if r.fullJitter {
		d *= rnd()
	}
	const maxSeconds = float64(math.MaxInt64/int64(time.Second)) - 1
	if d > maxSeconds || math.IsInf(d, 0) || math.IsNaN(d) {
		d = maxSeconds
	}
	return time.Duration(math.Round(d * float64(time.Second)))
}

type catcher struct {
	errorEquals []string
	next        string
	resultPath  resultPath
}

type state struct {
	name, typ string
	next      string
	end       bool

	inputPath, outputPath optPath
	parameters            template // nil when absent

	// Task
	resource       string
	kind           resourceKind
	serviceType    string // "sqs" for arn:aws:states:::sqs:sendMessage
	serviceAction  string // "sendMessage"
	fn             TaskFunc
	resultSelector template
	resultPath     resultPath
	retry          []*retrier
	catch          []*catcher
	timeout        time.Duration

	// Pass
	result    any
	hasResult bool

	// Choice
	choices     []*choiceRule
	defaultNext string

	// Fail
	errorLit, causeLit   string
	errorExpr, causeExpr expr
}

// Fields each state type accepts. Everything else, including valid ASL this engine does not
// implement (HeartbeatSeconds, Credentials, Arguments, Output, Assign, ItemProcessor, …), is refused.
var allowedFields = map[string][]string{
	"Task":    {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Resource", "TimeoutSeconds", "QueryLanguage"},
	"Pass":    {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "Parameters", "Result", "ResultPath", "QueryLanguage"},
	"Choice":  {"Type", "Comment", "InputPath", "OutputPath", "Choices", "Default", "QueryLanguage"},
	"Succeed": {"Type", "Comment", "InputPath", "OutputPath", "QueryLanguage"},
	"Fail":    {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath", "QueryLanguage"},
}

// parseDefinition parses and validates an ASL document (after substitution).
func parseDefinition(doc []byte, resources map[string]TaskFunc) (*definition, error) {
	top, err := decodeJSON(doc)
	if err != nil {
		return nil, &DefinitionError{Msg: err.Error()}
	}
	root, ok := top.(*object)
	if !ok {
		return nil, &DefinitionError{Msg: "the definition must be a JSON object"}
	}
	for _, k := range root.keys {
		switch k {
		case "Comment", "StartAt", "States":
		case "Version":
			if v, _ := root.vals[k].(string); v != "1.0" {
				return nil, &DefinitionError{Msg: `Version must be "1.0"`}
			}
		case "QueryLanguage":
			if v, _ := root.vals[k].(string); v != "JSONPath" {
				return nil, &DefinitionError{Msg: fmt.Sprintf("QueryLanguage %v is not supported (only JSONPath)", encodeJSON(root.vals[k]))}
			}
		default:
			return nil, &DefinitionError{Msg: fmt.Sprintf("top-level field %q is not supported", k)}
		}
	}
	d := &definition{states: map[string]*state{}}
	d.startAt, _ = root.vals["StartAt"].(string)
	if d.startAt == "" {
		return nil, &DefinitionError{Msg: "StartAt must be a non-empty string"}
	}
	states, ok := root.vals["States"].(*object)
	if !ok || len(states.keys) == 0 {
		return nil, &DefinitionError{Msg: "States must be a non-empty object"}
	}
	for _, name := range states.keys {
		if len(name) > 80 {
			return nil, &DefinitionError{State: name, Msg: "state names are at most 80 characters"}
		}
		st, err := parseState(name, states.vals[name], resources)
		if err != nil {
			return nil, &DefinitionError{State: name, Msg: err.Error()}
		}
		d.states[name] = st
	}
	if err := d.validateGraph(); err != nil {
		return nil, err
	}
	return d, nil
}

func parseState(name string, raw any, resources map[string]TaskFunc) (*state, error) {
	o, ok := raw.(*object)
	if !ok {
		return nil, fmt.Errorf("a state must be an object")
	}
	st := &state{name: name}
	st.typ, _ = o.vals["Type"].(string)
	allowed, known := allowedFields[st.typ]
	if !known {
		return nil, fmt.Errorf("Type %s is not supported (only Task, Pass, Choice, Succeed, Fail)", encodeJSON(o.vals["Type"]))
	}
	for _, k := range o.keys {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("field %q is not supported in a %s state by this engine", k, st.typ)
		}
	}
	if v, ok := o.get("QueryLanguage"); ok && v != "JSONPath" {
		return nil, fmt.Errorf("QueryLanguage %s is not supported (only JSONPath)", encodeJSON(v))
	}

	// Transitions.
	if v, ok := o.get("Next"); ok {
		if st.next, _ = v.(string); st.next == "" {
			return nil, fmt.Errorf("Next must be a non-empty string")
		}
	}
	if v, ok := o.get("End"); ok {
		b, isBool := v.(bool)
		if !isBool {
			return nil, fmt.Errorf("End must be a boolean")
		}
		st.end = b
	}
	if st.typ == "Task" || st.typ == "Pass" {
		if st.next != "" && st.end {
			return nil, fmt.Errorf("a state cannot have both Next and End")
		}
		if st.next == "" && !st.end {
			return nil, fmt.Errorf("a non-terminal state needs Next or \"End\": true")
		}
	}

	var err error
	if st.inputPath, err = parseOptPath(o, "InputPath"); err != nil {
		return nil, err
	}
	if st.outputPath, err = parseOptPath(o, "OutputPath"); err != nil {
		return nil, err
	}
	if v, ok := o.get("Parameters"); ok {
		if st.parameters, err = compileTemplate(v); err != nil {
			return nil, fmt.Errorf("Parameters: %w", err)
		}
	}
	if st.resultPath, err = parseResultPath(o, "ResultPath"); err != nil {
		return nil, err
	}

	switch st.typ {
	case "Task":
		err = parseTask(st, o, resources)
	case "Pass":
		st.result, st.hasResult = o.get("Result")
	case "Choice":
		err = parseChoice(st, o)
	case "Fail":
		err = parseFail(st, o)
	}
	return st, err
}

func parseOptPath(o *object, field string) (optPath, error) {
	v, ok := o.get(field)
	if !ok {
		return optPath{p: refPath{raw: "$"}}, nil
	}
	if v == nil {
		return optPath{null: true}, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return optPath{}, fmt.Errorf("%s must be a string or null", field)
	}
	p, err := parsePath(s, false)
	if err != nil {
		return optPath{}, fmt.Errorf("%s: %w", field, err)
	}
	return optPath{p: p}, nil
}

func parseResultPath(o *object, field string) (resultPath, error) {
	v, ok := o.get(field)
	if !ok {
		return resultPath{p: refPath{raw: "$"}}, nil
	}
	if v == nil {
		return resultPath{discard: true}, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return resultPath{}, fmt.Errorf("%s must be a string or null", field)
	}
	p, err := parsePath(s, false)
	if err != nil {
		return resultPath{}, fmt.Errorf("%s: %w", field, err)
	}
	return resultPath{p: p}, nil
}

func parseTask(st *state, o *object, resources map[string]TaskFunc) error {
	st.resource, _ = o.vals["Resource"].(string)
	switch {
	case st.resource == "":
		return fmt.Errorf("Resource must be a non-empty string")
	case strings.HasPrefix(st.resource, "arn:aws:lambda:"):
		st.kind = lambdaResource
	case strings.HasPrefix(st.resource, "arn:aws:states:::"):
		st.kind = serviceResource
		rest := strings.TrimPrefix(st.resource, "arn:aws:states:::")
		i := strings.LastIndexByte(rest, ':')
		if i <= 0 || i == len(rest)-1 {
			return fmt.Errorf("Resource %q is not a service integration of the form arn:aws:states:::service:action", st.resource)
		}
		st.serviceType, st.serviceAction = rest[:i], rest[i+1:]
		if strings.HasSuffix(st.serviceAction, ".sync") || strings.Contains(st.serviceAction, ".sync:") || strings.HasSuffix(st.serviceAction, ".waitForTaskToken") {
			return fmt.Errorf("Resource %q: the .sync and .waitForTaskToken integration patterns are not supported", st.resource)
		}
	default:
		return fmt.Errorf("Resource %q is not supported (only Lambda function ARNs and arn:aws:states::: service integrations)", st.resource)
	}
	st.fn = resources[st.resource]
	if st.fn == nil {
		return fmt.Errorf("no TaskFunc for Resource %q in Config.Resources", st.resource)
	}
	if v, ok := o.get("TimeoutSeconds"); ok {
		n, err := intField(v, "TimeoutSeconds", 1, 99999999)
		if err != nil {
			return err
		}
		st.timeout = time.Duration(n) * time.Second
	}
	var err error
	if v, ok := o.get("ResultSelector"); ok {
		if _, isObj := v.(*object); !isObj {
			return fmt.Errorf("ResultSelector must be an object")
		}
		if st.resultSelector, err = compileTemplate(v); err != nil {
			return fmt.Errorf("ResultSelector: %w", err)
		}
	}
	if v, ok := o.get("Retry"); ok {
		list, isArr := v.([]any)
		if !isArr {
			return fmt.Errorf("Retry must be an array")
		}
		for i, e := range list {
			r, err := parseRetrier(e, i == len(list)-1)
			if err != nil {
				return fmt.Errorf("Retry[%d]: %w", i, err)
			}
			st.retry = append(st.retry, r)
		}
	}
	if v, ok := o.get("Catch"); ok {
		list, isArr := v.([]any)
		if !isArr {
			return fmt.Errorf("Catch must be an array")
		}
		for i, e := range list {
			c, err := parseCatcher(e, i == len(list)-1)
			if err != nil {
				return fmt.Errorf("Catch[%d]: %w", i, err)
			}
			st.catch = append(st.catch, c)
		}
	}
	return nil
}

func parseErrorEquals(o *object, last bool, what string) ([]string, error) {
	list, ok := o.vals["ErrorEquals"].([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("ErrorEquals must be a non-empty array of strings")
	}
	var names []string
	for _, e := range list {
		s, ok := e.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("ErrorEquals must be a non-empty array of strings")
		}
		names = append(names, s)
	}
	if slices.Contains(names, "States.ALL") {
		if len(names) != 1 {
			return nil, fmt.Errorf("States.ALL must appear alone in ErrorEquals")
		}
		if !last {
			return nil, fmt.Errorf("States.ALL must be in the last %s", what)
		}
	}
	return names, nil
}

func checkFields(o *object, allowed ...string) error {
	for _, k := range o.keys {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("field %q is not supported", k)
		}
	}
	return nil
}

func parseRetrier(raw any, last bool) (*retrier, error) {
	o, ok := raw.(*object)
	if !ok {
		return nil, fmt.Errorf("a retrier must be an object")
	}
	if err := checkFields(o, "ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"); err != nil {
		return nil, err
	}
	r := &retrier{interval: 1, maxAttempts: 3, backoffRate: 2}
	var err error
	if r.errorEquals, err = parseErrorEquals(o, last, "retrier"); err != nil {
		return nil, err
	}
	if v, ok := o.get("IntervalSeconds"); ok {
		n, err := intField(v, "IntervalSeconds", 1, 99999999)
		if err != nil {
			return nil, err
		}
		r.interval = float64(n)
	}
	if v, ok := o.get("MaxAttempts"); ok {
		n, err := intField(v, "MaxAttempts", 0, 99999999)
		if err != nil {
			return nil, err
		}
		r.maxAttempts = int(n)
	}
	if v, ok := o.get("BackoffRate"); ok {
		n, isNum := v.(json.Number)
		f, err := n.Float64()
		if !isNum || err != nil || f < 1 {
			return nil, fmt.Errorf("BackoffRate must be a number >= 1.0, got %s", encodeJSON(v))
		}
		r.backoffRate = f
	}
	if v, ok := o.get("MaxDelaySeconds"); ok {
		n, err := intField(v, "MaxDelaySeconds", 1, 31622400)
		if err != nil {
			return nil, err
		}
		r.maxDelay = float64(n)
	}
	if v, ok := o.get("JitterStrategy"); ok {
		switch v {
		case "FULL":
			r.fullJitter = true
		case "NONE":
		default:
			return nil, fmt.Errorf("JitterStrategy must be FULL or NONE, got %s", encodeJSON(v))
		}
	}
	return r, nil
}

func parseCatcher(raw any, last bool) (*catcher, error) {
	o, ok := raw.(*object)
	if !ok {
		return nil, fmt.Errorf("a catcher must be an object")
	}
	if err := checkFields(o, "ErrorEquals", "Next", "ResultPath", "Comment"); err != nil {
		return nil, err
	}
	c := &catcher{}
	var err error
	if c.errorEquals, err = parseErrorEquals(o, last, "catcher"); err != nil {
		return nil, err
	}
	if c.next, _ = o.vals["Next"].(string); c.next == "" {
		return nil, fmt.Errorf("Next must be a non-empty string")
	}
	if c.resultPath, err = parseResultPath(o, "ResultPath"); err != nil {
		return nil, err
	}
	return c, nil
}

// intField reads an integer in [lo, hi] (2 and 2.0 are both accepted).
func intField(v any, field string, lo, hi int64) (int64, error) {
	n, ok := v.(json.Number)
	if ok {
		f, err := n.Float64()
		if err == nil && f == math.Trunc(f) && f >= float64(lo) && f <= float64(hi) {
			return int64(f), nil
		}
	}
	return 0, fmt.Errorf("%s must be an integer from %d to %d, got %s", field, lo, hi, encodeJSON(v))
}

func parseChoice(st *state, o *object) error {
	list, ok := o.vals["Choices"].([]any)
	if !ok || len(list) == 0 {
		return fmt.Errorf("Choices must be a non-empty array")
	}
	for i, e := range list {
		r, err := parseChoiceRule(e, true)
		if err != nil {
			return fmt.Errorf("Choices[%d]: %w", i, err)
		}
		st.choices = append(st.choices, r)
	}
	if v, ok := o.get("Default"); ok {
		if st.defaultNext, _ = v.(string); st.defaultNext == "" {
			return fmt.Errorf("Default must be a non-empty string")
		}
	}
	return nil
}

func parseFail(st *state, o *object) error {
	pair := func(lit, path string, dst *string, dstExpr *expr) error {
		v, hasLit := o.get(lit)
		pv, hasPath := o.get(path)
		if hasLit && hasPath {
			return fmt.Errorf("%s and %s are mutually exclusive", lit, path)
		}
		if hasLit {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("%s must be a string", lit)
			}
			*dst = s
		}
		if hasPath {
			s, ok := pv.(string)
			if !ok {
				return fmt.Errorf("%s must be a string", path)
			}
			e, err := compileExpr(s)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			*dstExpr = e
		}
		return nil
	}
	if err := pair("Error", "ErrorPath", &st.errorLit, &st.errorExpr); err != nil {
		return err
	}
	return pair("Cause", "CausePath", &st.causeLit, &st.causeExpr)
}

// validateGraph checks StartAt and every transition target, and refuses unreachable states as
// Step Functions does.
func (d *definition) validateGraph() error {
	if d.states[d.startAt] == nil {
		return &DefinitionError{Msg: fmt.Sprintf("StartAt %q is not a state", d.startAt)}
	}
	names := make([]string, 0, len(d.states))
	for n := range d.states {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, t := range d.states[n].targets() {
			if d.states[t.to] == nil {
				return &DefinitionError{State: n, Msg: fmt.Sprintf("%s %q is not a state", t.field, t.to)}
			}
		}
	}
	seen := map[string]bool{d.startAt: true}
	queue := []string{d.startAt}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, t := range d.states[n].targets() {
			if !seen[t.to] {
				seen[t.to] = true
				queue = append(queue, t.to)
			}
		}
	}
	for _, n := range names {
		if !seen[n] {
			return &DefinitionError{State: n, Msg: "the state is not reachable from StartAt"}
		}
	}
	return nil
}

type transition struct{ field, to string }

func (s *state) targets() []transition {
	var ts []transition
	if s.next != "" {
		ts = append(ts, transition{"Next", s.next})
	}
	for i, c := range s.catch {
		ts = append(ts, transition{fmt.Sprintf("Catch[%d].Next", i), c.next})
	}
	for i, c := range s.choices {
		ts = append(ts, transition{fmt.Sprintf("Choices[%d].Next", i), c.next})
	}
	if s.defaultNext != "" {
		ts = append(ts, transition{"Default", s.defaultNext})
	}
	return ts
}

// errorMatches reports whether a retrier's or catcher's ErrorEquals matches the error name.
// States.Runtime matches nothing. States.ALL matches everything except States.Runtime and
// States.DataLimitExceeded; States.TaskFailed matches every task failure except States.Timeout (and
// those two).
func errorMatches(list []string, name string) bool {
	if name == "States.Runtime" {
		return false // never retried, never caught
	}
	terminal := name == "States.DataLimitExceeded"
	for _, e := range list {
		switch {
		case e == name:
			return true
		case e == "States.ALL" && !terminal:
			return true
		case e == "States.TaskFailed" && !terminal && name != "States.Timeout":
			return true
		}
	}
	return false
}
