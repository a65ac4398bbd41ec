// Package states is the part of AWS Step Functions' vocabulary that the local engine (package sfn), the
// step handlers (workflow) and the operator tools (ops) share: execution and redrive statuses, and how
// a Go Lambda handler's error reaches a state machine as an error name and a cause. It imports nothing
// of the project, so each of them can use it without depending on another.
package states

import (
	"encoding/json"
	"reflect"
)

// Status is an execution's status, as DescribeExecution reports it.
type Status = string

// Execution statuses.
const (
	Running   Status = "RUNNING"
	Succeeded Status = "SUCCEEDED"
	Failed    Status = "FAILED"
	TimedOut  Status = "TIMED_OUT"
	Aborted   Status = "ABORTED"
)

// Statuses lists every execution status, in the order the operator commands print them.
var Statuses = []Status{Running, Succeeded, Failed, TimedOut, Aborted}

// Unsuccessful reports whether an execution with status s ended without succeeding (FAILED, TIMED_OUT,
// ABORTED): what RedriveExecution accepts, and what an operator restarts. A SUCCEEDED execution has
// ended too, but is not one of these.
func Unsuccessful(s Status) bool { return s == Failed || s == TimedOut || s == Aborted }

// Redrive statuses, as DescribeExecution reports them.
const (
	Redrivable    = "REDRIVABLE"
	NotRedrivable = "NOT_REDRIVABLE"
)

// ErrorName is the name aws-lambda-go reports for a handler's returned error or panic value, and so the
// error name Step Functions' Retry and Catch match: the value's type name with one pointer removed
// (errors.New gives "errorString", fmt.Errorf with %w "wrapError", *ValidationError "ValidationError").
func ErrorName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// LambdaCause is the cause Step Functions records for a Lambda task's error: the runtime's JSON error
// payload, as a string.
func LambdaCause(errorType, message string) string {
	payload, _ := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{message, errorType})
	return string(payload)
}

// CauseMessage is the errorMessage of a Lambda task's cause (see LambdaCause), or the cause itself when it
// is not such a payload.
func CauseMessage(cause string) string {
	var c struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &c) == nil && c.ErrorMessage != "" {
		return c.ErrorMessage
	}
	return cause
}
