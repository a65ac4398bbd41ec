package cloud

import (
	"context"
	"errors"
	"log/slog"
	"os"

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

// NewSteps builds the step handlers of a Lambda function from its environment: configuration, the S3
// client and both buckets. The transform function adds its StageFunc.
func NewSteps(ctx context.Context, getenv func(string) string) (*workflow.Steps, error) {
	conf, err := workflow.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	if conf.RawBucket == "" || conf.ProcessedBucket == "" {
		return nil, errors.New("RAW_BUCKET and PROCESSED_BUCKET must be set")
	}
	o := NewObservability(getenv)
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return nil, err
	}
	xraytrace.InstrumentAWS(o.Tracer, &cfg)
	client := NewS3(cfg)
	return &workflow.Steps{
		Raw:       s3store.New(client, conf.RawBucket),
		Processed: s3store.New(client, conf.ProcessedBucket),
		Conf:      conf,
		Log:       o.Log,
		Metrics:   o.Metrics,
		Tracer:    o.Tracer,
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
	o := NewObservability(getenv)
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return nil, err
	}
	xraytrace.InstrumentAWS(o.Tracer, &cfg)
	return &workflow.Starter{
		Raw:     s3store.New(NewS3(cfg), conf.RawBucket),
		Exec:    Executions{Client: sfn.NewFromConfig(cfg), StateMachineArn: conf.StateMachineArn},
		Log:     o.Log,
		Metrics: o.Metrics,
	}, nil
}
