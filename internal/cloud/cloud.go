// Package cloud builds the AWS clients of the Lambda functions and adapts Step Functions to the
// workflow's Executions interface. Everything AWS-specific that the handlers need stays here.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/paysettle/settle/internal/workflow"
)

// LoadConfig loads the AWS configuration the standard way (environment, profile, instance role).
// Endpoints can be overridden per service with AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_SFN, which the SDK
// reads itself; tests use that to point the functions at local fakes.
func LoadConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return cfg, nil
}

// NewS3 returns an S3 client. S3_FORCE_PATH_STYLE=true selects path-style addressing, which S3-compatible
// test servers on localhost need.
func NewS3(cfg aws.Config, getenv func(string) string) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = strings.EqualFold(getenv("S3_FORCE_PATH_STYLE"), "true")
	})
}

// Executions is Step Functions for the starter.
type Executions struct {
	Client          *sfn.Client
	StateMachineARN string
}

// ExecutionARN is the ARN of the named execution of the state machine.
func ExecutionARN(stateMachineArn, name string) string {
	return strings.Replace(stateMachineArn, ":stateMachine:", ":execution:", 1) + ":" + name
}

// RepeatAge is how much older than the response the start date of the execution StartExecution returns
// must be for the call to count as a repeat. Step Functions answers a start with the name and
// byte-identical input of a RUNNING execution with that execution, as a success; its start date, set
// by the same service that dates the response, then lies back by the execution's age. A new execution's
// start date lies within the call (the Date header has whole seconds, so up to a second after it).
const RepeatAge = 2 * time.Second

// Start starts an execution. Step Functions treats the same name and byte-identical input of a RUNNING
// execution as the same request; that repeat, and anything else with a taken name, is
// ErrExecutionExists (Launch then describes it: a running execution is a duplicate delivery). A repeat
// within RepeatAge of the execution's start is not told apart from a new start (docs/decisions.md).
func (x Executions) Start(ctx context.Context, name string, input []byte) error {
	out, err := x.Client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(x.StateMachineARN), Name: aws.String(name), Input: aws.String(string(input)),
	})
	var exists *sfntypes.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		return fmt.Errorf("%w: %s", workflow.ErrExecutionExists, aws.ToString(exists.Message))
	}
	if err != nil {
		return fmt.Errorf("start execution %s: %w", name, err)
	}
	started := aws.ToTime(out.StartDate)
	if served, ok := awsmiddleware.GetServerTime(out.ResultMetadata); ok && !started.IsZero() && served.Sub(started) > RepeatAge {
		return fmt.Errorf("%w: %s has been running with this input since %s", workflow.ErrExecutionExists, name, started.UTC().Format(time.RFC3339))
	}
	return nil
}

// Describe describes an execution.
func (x Executions) Describe(ctx context.Context, name string) (workflow.ExecutionInfo, error) {
	out, err := x.Client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(ExecutionARN(x.StateMachineARN, name))})
	if err != nil {
		return workflow.ExecutionInfo{}, fmt.Errorf("describe execution %s: %w", name, err)
	}
	return workflow.ExecutionInfo{Name: name, Status: string(out.Status), Redrivable: out.RedriveStatus == sfntypes.ExecutionRedriveStatusRedrivable,
		Error: aws.ToString(out.Error)}, nil
}

// Redrive redrives a failed execution from the step that failed.
func (x Executions) Redrive(ctx context.Context, name string) error {
	_, err := x.Client.RedriveExecution(ctx, &sfn.RedriveExecutionInput{ExecutionArn: aws.String(ExecutionARN(x.StateMachineARN, name))})
	if err != nil {
		return fmt.Errorf("redrive execution %s: %w", name, err)
	}
	return nil
}
