package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/paysettle/settle/internal/states"
)

// Execution describes one execution, like the DescribeExecution API (JSON names as AWS's).
type Execution struct {
	Name            string          `json:"name"`
	ExecutionARN    string          `json:"executionArn"`
	StateMachineARN string          `json:"stateMachineArn"`
	Status          states.Status   `json:"status"`
	Input           json.RawMessage `json:"input"`
	Output          json.RawMessage `json:"output,omitempty"` // SUCCEEDED only
	Error           string          `json:"error,omitempty"`
	Cause           string          `json:"cause,omitempty"`
	StartDate       time.Time       `json:"startDate"`
	StopDate        time.Time       `json:"stopDate,omitzero"`

	RedriveCount        int       `json:"redriveCount"`
	RedriveDate         time.Time `json:"redriveDate,omitzero"`
	RedriveStatus       string    `json:"redriveStatus"`
	RedriveStatusReason string    `json:"redriveStatusReason,omitempty"`

	// FailedState is the state where the execution failed, timed out or was aborted, and
	// FailedStateInput the raw input that state received: a redrive re-enters it with that input.
	FailedState      string          `json:"failedState,omitempty"`
	FailedStateInput json.RawMessage `json:"failedStateInput,omitempty"`
}

// Event is one history event, shaped like the GetExecutionHistory API's.
type Event struct {
	ID              int64     `json:"id"`
	PreviousEventID int64     `json:"previousEventId"`
	Timestamp       time.Time `json:"timestamp"`
	Type            string    `json:"type"`

	ExecutionStartedEventDetails   *ExecutionStartedEventDetails   `json:"executionStartedEventDetails,omitempty"`
	ExecutionSucceededEventDetails *ExecutionSucceededEventDetails `json:"executionSucceededEventDetails,omitempty"`
	ExecutionFailedEventDetails    *ErrorEventDetails              `json:"executionFailedEventDetails,omitempty"`
	ExecutionAbortedEventDetails   *ErrorEventDetails              `json:"executionAbortedEventDetails,omitempty"`
	ExecutionRedrivenEventDetails  *ExecutionRedrivenEventDetails  `json:"executionRedrivenEventDetails,omitempty"`

	StateEnteredEventDetails *StateEnteredEventDetails `json:"stateEnteredEventDetails,omitempty"`
	StateExitedEventDetails  *StateExitedEventDetails  `json:"stateExitedEventDetails,omitempty"`

	LambdaFunctionScheduledEventDetails *LambdaFunctionScheduledEventDetails `json:"lambdaFunctionScheduledEventDetails,omitempty"`
	LambdaFunctionSucceededEventDetails *OutputEventDetails                  `json:"lambdaFunctionSucceededEventDetails,omitempty"`
	LambdaFunctionFailedEventDetails    *ErrorEventDetails                   `json:"lambdaFunctionFailedEventDetails,omitempty"`
	LambdaFunctionTimedOutEventDetails  *ErrorEventDetails                   `json:"lambdaFunctionTimedOutEventDetails,omitempty"`

	TaskScheduledEventDetails *TaskScheduledEventDetails `json:"taskScheduledEventDetails,omitempty"`
	TaskStartedEventDetails   *TaskStartedEventDetails   `json:"taskStartedEventDetails,omitempty"`
	TaskSucceededEventDetails *TaskSucceededEventDetails `json:"taskSucceededEventDetails,omitempty"`
	TaskFailedEventDetails    *TaskFailedEventDetails    `json:"taskFailedEventDetails,omitempty"`
	TaskTimedOutEventDetails  *TaskFailedEventDetails    `json:"taskTimedOutEventDetails,omitempty"`
}

// History event types.
const (
	EventExecutionStarted   = "ExecutionStarted"
	EventExecutionSucceeded = "ExecutionSucceeded"
	EventExecutionFailed    = "ExecutionFailed"
	EventExecutionAborted   = "ExecutionAborted"
	EventExecutionRedriven  = "ExecutionRedriven"

	EventLambdaFunctionScheduled = "LambdaFunctionScheduled"
	EventLambdaFunctionStarted   = "LambdaFunctionStarted"
	EventLambdaFunctionSucceeded = "LambdaFunctionSucceeded"
	EventLambdaFunctionFailed    = "LambdaFunctionFailed"
	EventLambdaFunctionTimedOut  = "LambdaFunctionTimedOut"

	EventTaskScheduled = "TaskScheduled"
	EventTaskStarted   = "TaskStarted"
	EventTaskSucceeded = "TaskSucceeded"
	EventTaskFailed    = "TaskFailed"
	EventTaskTimedOut  = "TaskTimedOut"

	EventTaskStateEntered    = "TaskStateEntered"
	EventTaskStateExited     = "TaskStateExited"
	EventPassStateEntered    = "PassStateEntered"
	EventPassStateExited     = "PassStateExited"
	EventChoiceStateEntered  = "ChoiceStateEntered"
	EventChoiceStateExited   = "ChoiceStateExited"
	EventSucceedStateEntered = "SucceedStateEntered"
	EventSucceedStateExited  = "SucceedStateExited"
	EventFailStateEntered    = "FailStateEntered"
)

// ExecutionStartedEventDetails holds the execution's input (a JSON text) and role.
type ExecutionStartedEventDetails struct {
	Input   string `json:"input"`
	RoleARN string `json:"roleArn"`
}

// ExecutionSucceededEventDetails holds the execution's output (a JSON text).
type ExecutionSucceededEventDetails struct {
	Output string `json:"output"`
}

// ExecutionRedrivenEventDetails counts the redrives so far, this one included.
type ExecutionRedrivenEventDetails struct {
	RedriveCount int `json:"redriveCount"`
}

// ErrorEventDetails is an error name and cause (execution failed/aborted, Lambda failed/timed out).
type ErrorEventDetails struct {
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
}

// StateEnteredEventDetails names the state and its raw input (a JSON text).
type StateEnteredEventDetails struct {
	Name  string `json:"name"`
	Input string `json:"input"`
}

// StateExitedEventDetails names the state and its output (a JSON text).
type StateExitedEventDetails struct {
	Name   string `json:"name"`
	Output string `json:"output"`
}

// LambdaFunctionScheduledEventDetails is the function and its effective input (a JSON text).
type LambdaFunctionScheduledEventDetails struct {
	Resource         string `json:"resource"`
	Input            string `json:"input"`
	TimeoutInSeconds int64  `json:"timeoutInSeconds,omitempty"`
}

// OutputEventDetails holds a task's raw result (a JSON text).
type OutputEventDetails struct {
	Output string `json:"output"`
}

// TaskScheduledEventDetails describes a service integration call: resourceType "sqs" and resource
// "sendMessage" for arn:aws:states:::sqs:sendMessage; parameters is a JSON text.
type TaskScheduledEventDetails struct {
	ResourceType     string `json:"resourceType"`
	Resource         string `json:"resource"`
	Region           string `json:"region"`
	Parameters       string `json:"parameters"`
	TimeoutInSeconds int64  `json:"timeoutInSeconds,omitempty"`
}

// TaskStartedEventDetails names the service integration.
type TaskStartedEventDetails struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
}

// TaskSucceededEventDetails holds a service integration's result (a JSON text).
type TaskSucceededEventDetails struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
	Output       string `json:"output"`
}

// TaskFailedEventDetails holds a service integration's error (failed or timed out).
type TaskFailedEventDetails struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
	Error        string `json:"error,omitempty"`
	Cause        string `json:"cause,omitempty"`
}

// InvalidNameError rejects an execution name: 1 to 80 characters of [0-9A-Za-z_-] (the characters
// Step Functions allows when CloudWatch logging is on).
type InvalidNameError struct {
	Name   string
	Reason string
}

func (e *InvalidNameError) Error() string {
	return fmt.Sprintf("Invalid Name: '%s': %s", e.Name, e.Reason)
}

// InvalidExecutionInputError rejects an execution input that is not JSON or is too large.
type InvalidExecutionInputError struct {
	Reason string
}

func (e *InvalidExecutionInputError) Error() string {
	return "Invalid State Machine Execution Input: " + e.Reason
}

// ExecutionAlreadyExistsError is StartExecution's answer when the name is taken by a closed
// execution, or by a running one with a different input.
type ExecutionAlreadyExistsError struct {
	ExecutionARN string
}

func (e *ExecutionAlreadyExistsError) Error() string {
	return fmt.Sprintf("Execution Already Exists: '%s'", e.ExecutionARN)
}

// ExecutionDoesNotExistError is the answer for an unknown execution name.
type ExecutionDoesNotExistError struct {
	ExecutionARN string
}

func (e *ExecutionDoesNotExistError) Error() string {
	return fmt.Sprintf("Execution Does Not Exist: '%s'", e.ExecutionARN)
}

// ExecutionNotRedrivableError is RedriveExecution's answer for an execution that cannot be redriven.
type ExecutionNotRedrivableError struct {
	ExecutionARN string
	Reason       string
}

func (e *ExecutionNotRedrivableError) Error() string {
	return fmt.Sprintf("Execution '%s' cannot be redriven: %s", e.ExecutionARN, e.Reason)
}
