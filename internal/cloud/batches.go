package cloud

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/store/s3store"
	"github.com/paysettle/settle/internal/workflow"
)

// BatchesHandler is the batches function's handler type, as lambda.Start takes it.
type BatchesHandler = func(context.Context, workflow.BatchCheckInput) (*workflow.BatchCheckResult, error)

// AckCommand is the acknowledgement command the deployed check's messages name.
const AckCommand = "settle aws batches ack"

// NewBatches builds the scheduled batches function's handler from its environment: PROCESSED_BUCKET
// (the ledgers), ALERT_TOPIC_ARN, METRICS_NAMESPACE and the batch policy (ledger.PolicyFromEnv:
// BATCH_GRACE_HOURS, BATCH_CADENCES).
func NewBatches(ctx context.Context, getenv func(string) string) (BatchesHandler, error) {
	bucket, topic := getenv("PROCESSED_BUCKET"), getenv("ALERT_TOPIC_ARN")
	if bucket == "" || topic == "" {
		return nil, errors.New("PROCESSED_BUCKET and ALERT_TOPIC_ARN must be set")
	}
	policy, err := ledger.PolicyFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	policy.AckCommand = AckCommand
	o, cfg, err := setup(ctx, getenv)
	if err != nil {
		return nil, err
	}
	c := &workflow.BatchCheck{
		Processed: s3store.New(NewS3(cfg, getenv), bucket),
		Publisher: Topic{Client: sns.NewFromConfig(cfg), ARN: topic},
		Policy:    policy,
		Log:       o.Log,
		Metrics:   o.Metrics,
	}
	return c.Handle, nil
}

// Topic publishes to an SNS topic (the stack's alert topic).
type Topic struct {
	Client *sns.Client
	ARN    string
}

// Publish sends one message with its subject.
func (t Topic) Publish(ctx context.Context, subject, message string) error {
	_, err := t.Client.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(t.ARN), Subject: aws.String(subject), Message: aws.String(message)})
	if err != nil {
		return fmt.Errorf("publish to %s: %w", t.ARN, err)
	}
	return nil
}
