package cloud

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/store/s3store"
	"github.com/paysettle/settle/internal/workflow"
)

// BatchesHandler is the batches function's handler type, as lambda.Start takes it.
type BatchesHandler = func(context.Context, workflow.BatchCheckInput) (*workflow.BatchCheckResult, error)

// AckCommand is the acknowledgement command the deployed check's messages name.
const AckCommand = "settle aws batches ack"

// NewBatches builds the scheduled batches function's handler from its environment: PROCESSED_BUCKET
// (the ledgers), ALERT_TOPIC_ARN, METRICS_NAMESPACE, the batch policy (ledger.PolicyFromEnv:
// BATCH_GRACE_HOURS, BATCH_CADENCES) and the gap repair (workflow.RepairFromEnv: REPAIR_GAPS,
// REPAIR_GAPS_OFF; with WEBHOOK_QUEUE_URL, the fetch function's queue, and ADYEN_ENVIRONMENT).
func NewBatches(ctx context.Context, getenv func(string) string, table func(workflow.TableHome) workflow.TableReader) (BatchesHandler, error) {
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
	repair, err := workflow.RepairFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	if q := getenv("WEBHOOK_QUEUE_URL"); repair != nil && q != "" {
		// The gaps' reports go to the fetch function's queue, from the Customer Area of the stack's
		// Adyen environment.
		repair.Queue = Queue{Client: sqs.NewFromConfig(cfg), URL: q}
		repair.Host = "https://" + fetch.TestHost
		if getenv("ADYEN_ENVIRONMENT") == "live" {
			repair.Host = "https://" + fetch.LiveHost
		}
	} else {
		repair = nil
	}
	processed := s3store.New(NewS3(cfg, getenv), bucket)
	var reader workflow.TableReader
	if table != nil {
		// Opened at the check, not here: a table that cannot be reached fails the table check, which
		// the check reports, and leaves the ledgers' alerts running.
		reader = workflow.LazyTable(func(ctx context.Context) (workflow.TableReader, error) {
			home, err := TableHomeFromEnv(ctx, getenv, cfg, processed)
			if err != nil {
				return nil, fmt.Errorf("the table of record: %w", err)
			}
			return table(home), nil
		})
	}
	c := &workflow.BatchCheck{
		Processed: processed,
		Table:     reader,
		Publisher: Topic{Client: sns.NewFromConfig(cfg), ARN: topic},
		Policy:    policy,
		Log:       o.Log,
		Metrics:   o.Metrics,
		Repair:    repair,
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
