package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paysettle/settle/internal/states"
)

// TaskFunc runs one Task state's resource with its effective input (after InputPath/Parameters) and
// returns its raw result, which must be JSON.
type TaskFunc func(ctx context.Context, input json.RawMessage) (json.RawMessage, error)

// TaskError is a task failure with a Step Functions error name and cause. A TaskFunc may return one
// (also wrapped) to choose the name its Retry and Catch see. Any other error is named the way
// aws-lambda-go names it: the Go type name with one pointer removed (errors.New → "errorString",
// fmt.Errorf with %w → "wrapError", *ValidationError → "ValidationError"), with err.Error() as cause.
type TaskError struct{ Name, Cause string }

func (e TaskError) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

// taskErrorOf names an error returned by a TaskFunc.
func taskErrorOf(err error) (name, cause string) {
	var p *TaskError
	if errors.As(err, &p) && p != nil {
		return p.Name, p.Cause
	}
	var v TaskError
	if errors.As(err, &v) {
		return v.Name, v.Cause
	}
	return states.ErrorName(err), err.Error()
}

// lambdaError is the error a Lambda function reports to Step Functions: the cause is the runtime's
// JSON error payload, as a string.
func lambdaError(errorType, message string) *TaskError {
	return &TaskError{Name: errorType, Cause: states.LambdaCause(errorType, message)}
}

// LambdaTask adapts a typed Lambda handler to a TaskFunc through a JSON round trip, as a deployed Go
// Lambda behind a plain function-ARN Task resource behaves: the input is decoded into In (a decoding
// failure is reported the way the runtime reports it, e.g. "UnmarshalTypeError"), the output is
// encoded as the runtime encodes it, and a handler error (or panic) becomes
// TaskError{Name: <type name>, Cause: `{"errorMessage":"…","errorType":"<type name>"}`}: the Cause is a
// string holding JSON, as a Catch receives it from Step Functions.
func LambdaTask[In, Out any](h func(context.Context, In) (Out, error)) TaskFunc {
	return func(ctx context.Context, input json.RawMessage) (out json.RawMessage, err error) {
		defer func() {
			if p := recover(); p != nil {
				out, err = nil, lambdaError(states.ErrorName(p), fmt.Sprintf("%v", p))
			}
		}()
		var in In
		if err := json.NewDecoder(bytes.NewReader(input)).Decode(&in); err != nil {
			return nil, lambdaError(states.ErrorName(err), err.Error())
		}
		res, err := h(ctx, in)
		if err != nil {
			return nil, lambdaError(states.ErrorName(err), err.Error())
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(res); err != nil {
			return nil, lambdaError(states.ErrorName(err), err.Error())
		}
		return bytes.TrimRight(buf.Bytes(), "\n"), nil
	}
}
