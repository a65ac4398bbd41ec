package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/obs/xraytrace"
	"github.com/paysettle/settle/internal/store/s3store"
	"github.com/paysettle/settle/internal/workflow"
)

// Observability is what a function logs, measures and traces with: JSON logs and EMF metrics on
// standard output (CloudWatch Logs), X-Ray spans in Lambda.
type Observability struct {
	Log     *slog.Logger
	Metrics *obs.Metrics
	Tracer  obs.Tracer
}

// NewObservability sets up a function's observability from its environment: LOG level from
// AWS_LAMBDA_LOG_LEVEL (or LOG_LEVEL), the metrics namespace from METRICS_NAMESPACE, tracing in Lambda
// unless AWS_XRAY_SDK_DISABLED=true. It also routes the standard logger, which aws-lambda-go uses for
// failed invocations, through the JSON logger without the error message (see obs.RedirectStdLog).
func NewObservability(getenv func(string) string) Observability {
	o := Observability{
		Log:     obs.NewLogger(os.Stdout, obs.LevelFromEnv(getenv)),
		Metrics: obs.NewMetrics(os.Stdout, obs.NamespaceFromEnv(getenv)),
		Tracer:  xraytrace.New(getenv),
	}
	obs.RedirectStdLog(o.Log)
	xraytrace.SetLogger(o.Tracer, o.Log)
	return o
}

// Handler types of the four step functions, as lambda.Start takes them.
type (
	CheckHandler     = func(context.Context, workflow.StepInput) (*workflow.CheckResult, error)
	ValidateHandler  = func(context.Context, workflow.StepInput) (*workflow.ValidateResult, error)
	TransformHandler = func(context.Context, workflow.StepInput) (*workflow.TransformResult, error)
	WriteHandler     = func(context.Context, workflow.StepInput) (*workflow.WriteResult, error)
)

// NewCheck builds the check function's handler from its environment (RAW_BUCKET, PROCESSED_BUCKET and
// the policy variables workflow.LoadConfig reads).
func NewCheck(ctx context.Context, getenv func(string) string) (CheckHandler, error) {
	return handler(ctx, getenv, func(s *workflow.Steps) CheckHandler { return s.Check })
}

// NewValidate builds the validate function's handler from its environment.
func NewValidate(ctx context.Context, getenv func(string) string) (ValidateHandler, error) {
	return handler(ctx, getenv, func(s *workflow.Steps) ValidateHandler { return s.Validate })
}

// NewTransform builds the transform function's handler from its environment, with stage doing the
// Parquet encoding (parquetfile.Stage, passed by the function's main so that only that function links
// Arrow and Parquet).
func NewTransform(ctx context.Context, getenv func(string) string, stage workflow.StageFunc) (TransformHandler, error) {
	if stage == nil {
		return nil, errors.New("transform: no StageFunc")
	}
	return handler(ctx, getenv, func(s *workflow.Steps) TransformHandler { s.Stage = stage; return s.Transform })
}

// NewWrite builds the write function's handler from its environment, with table opening the table of
// record in the processed bucket (icetable.For, passed by the function's main so that only that function
// links Iceberg).
func NewWrite(ctx context.Context, getenv func(string) string, table func(workflow.TableHome) workflow.Table) (WriteHandler, error) {
	if table == nil {
		return nil, errors.New("write: no table of record")
	}
	s, cfg, err := newStepsConfig(ctx, getenv)
	if err != nil {
		return nil, err
	}
	home, err := TableHomeFromEnv(ctx, getenv, cfg, s.Processed)
	if err != nil {
		return nil, fmt.Errorf("write: the table of record: %w", err)
	}
	s.Table = table(home)
	return s.Write, nil
}

// handler builds the steps and returns the one method of them a function runs.
func handler[H any](ctx context.Context, getenv func(string) string, method func(*workflow.Steps) H) (H, error) {
	s, err := newSteps(ctx, getenv)
	if err != nil {
		var none H
		return none, err
	}
	return method(s), nil
}

// newSteps builds the step handlers a function's handler is a method of: configuration, the S3 client
// and both buckets (every step checks that its file is in the raw bucket; Check, Validate and Transform
// read it).
func newSteps(ctx context.Context, getenv func(string) string) (*workflow.Steps, error) {
	s, _, err := newStepsConfig(ctx, getenv)
	return s, err
}

// newStepsConfig is newSteps, and the AWS configuration its clients were made with.
func newStepsConfig(ctx context.Context, getenv func(string) string) (*workflow.Steps, aws.Config, error) {
	conf, err := workflow.LoadConfig(getenv)
	if err != nil {
		return nil, aws.Config{}, err
	}
	if conf.RawBucket == "" || conf.ProcessedBucket == "" {
		return nil, aws.Config{}, errors.New("RAW_BUCKET and PROCESSED_BUCKET must be set")
	}
	// The stack sets the functions' settings: messages name its parameters with the variables.
	conf.SettingNames = workflow.StackParameters
	o, cfg, err := setup(ctx, getenv)
	if err != nil {
		return nil, aws.Config{}, err
	}
	client := NewS3(cfg, getenv)
	return &workflow.Steps{
		Raw:       s3store.New(client, conf.RawBucket),
		Processed: s3store.New(client, conf.ProcessedBucket),
		Conf:      conf,
		Log:       o.Log,
		Metrics:   o.Metrics,
		Tracer:    o.Tracer,
	}, cfg, nil
}

// setup is what every function starts from: its observability and the AWS configuration, whose
// clients X-Ray then traces.
func setup(ctx context.Context, getenv func(string) string) (Observability, aws.Config, error) {
	o := NewObservability(getenv)
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return Observability{}, aws.Config{}, err
	}
	xraytrace.InstrumentAWS(o.Tracer, &cfg)
	return o, cfg, nil
}

// NewStarter builds the starter's handler from its environment (RAW_BUCKET, STATE_MACHINE_ARN).
func NewStarter(ctx context.Context, getenv func(string) string) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	conf, err := workflow.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	if conf.RawBucket == "" || conf.StateMachineARN == "" {
		return nil, errors.New("RAW_BUCKET and STATE_MACHINE_ARN must be set")
	}
	o, cfg, err := setup(ctx, getenv)
	if err != nil {
		return nil, err
	}
	st := &workflow.Starter{
		Raw:     s3store.New(NewS3(cfg, getenv), conf.RawBucket),
		Exec:    Executions{Client: sfn.NewFromConfig(cfg), StateMachineARN: conf.StateMachineARN},
		Log:     o.Log,
		Metrics: o.Metrics,
	}
	return st.Handle, nil
}
