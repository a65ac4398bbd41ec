package cloud

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// NewSteps builds the step handlers of a Lambda function from its environment: configuration, the S3
// client and both buckets. The transform and write functions add their StageFunc or EncodeFunc.
func NewSteps(ctx context.Context, getenv func(string) string) (*workflow.Steps, error) {
	conf, err := workflow.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	if conf.RawBucket == "" || conf.ProcessedBucket == "" {
		return nil, errors.New("RAW_BUCKET and PROCESSED_BUCKET must be set")
	}
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return nil, err
	}
	client := NewS3(cfg)
	return &workflow.Steps{
		Raw:       store.NewS3(client, conf.RawBucket),
		Processed: store.NewS3(client, conf.ProcessedBucket),
		Conf:      conf,
		Log:       NewLogger(),
	}, nil
}

// NewStarter builds the starter's handler from its environment.
func NewStarter(ctx context.Context, getenv func(string) string) (*workflow.Starter, error) {
	conf, err := workflow.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	if conf.RawBucket == "" || conf.StateMachineArn == "" {
		return nil, errors.New("RAW_BUCKET and STATE_MACHINE_ARN must be set")
	}
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &workflow.Starter{
		Raw:  store.NewS3(NewS3(cfg), conf.RawBucket),
		Exec: Executions{Client: sfn.NewFromConfig(cfg), StateMachineArn: conf.StateMachineArn},
		Log:  NewLogger(),
	}, nil
}

// NewLogger logs JSON lines to standard output, which Lambda sends to CloudWatch Logs.
func NewLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
