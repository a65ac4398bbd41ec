package cloud

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/store/s3store"
	"github.com/paysettle/settle/internal/webhook"
	"github.com/paysettle/settle/internal/workflow"
)

// Queue is an SQS queue to send to.
type Queue struct {
	Client *sqs.Client
	URL    string
}

// Send sends one message.
func (q Queue) Send(ctx context.Context, body []byte) error {
	_, err := q.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(string(body))})
	if err != nil {
		return fmt.Errorf("send to %s: %w", q.URL, err)
	}
	return nil
}

// NewReceiver builds the webhook function's handler from its environment: the webhook secret read
// through a cache, the webhook queue, and the report policy.
func NewReceiver(ctx context.Context, getenv func(string) string) (*webhook.Receiver, error) {
	conf, err := webhook.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	if conf.SecretID == "" || conf.QueueURL == "" {
		return nil, errors.New("WEBHOOK_SECRET_ARN and WEBHOOK_QUEUE_URL must be set")
	}
	o, cfg, err := setup(ctx, getenv)
	if err != nil {
		return nil, err
	}
	secrets := NewSecrets(secretsmanager.NewFromConfig(cfg))
	return &webhook.Receiver{
		Secret: func(ctx context.Context) (webhook.Secret, error) {
			s, err := secrets.Get(ctx, conf.SecretID)
			if err != nil {
				return webhook.Secret{}, err
			}
			return webhook.ParseSecret(s)
		},
		Queue:   Queue{Client: sqs.NewFromConfig(cfg), URL: conf.QueueURL},
		Policy:  fetch.Policy{Hosts: conf.Hosts},
		Pattern: conf.Pattern,
		Log:     o.Log,
		Metrics: o.Metrics,
	}, nil
}

// NewFetchHandler builds the fetch function's handler from its environment: the raw bucket, the report
// user's secret read through a cache, the policy, the size limit and the dead-letter queue.
func NewFetchHandler(ctx context.Context, getenv func(string) string) (*fetch.Handler, error) {
	wconf, err := workflow.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	conf, err := fetch.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	if wconf.RawBucket == "" || conf.SecretID == "" || conf.DLQURL == "" {
		return nil, errors.New("RAW_BUCKET, REPORT_USER_SECRET_ARN and FETCH_DLQ_URL must be set")
	}
	o, cfg, err := setup(ctx, getenv)
	if err != nil {
		return nil, err
	}
	secrets := NewSecrets(secretsmanager.NewFromConfig(cfg))
	f := &fetch.Fetcher{
		Raw:    s3store.New(NewS3(cfg, getenv), wconf.RawBucket),
		Policy: fetch.Policy{Hosts: conf.Hosts},
		Credentials: func(ctx context.Context) (string, string, error) {
			s, err := secrets.Get(ctx, conf.SecretID)
			if err != nil {
				return "", "", err
			}
			return fetch.ParseCredentials(s)
		},
		MaxBytes: wconf.MaxFileBytes,
		Attempts: conf.Attempts,
		Log:      o.Log,
	}
	return &fetch.Handler{Fetcher: f, DLQ: Queue{Client: sqs.NewFromConfig(cfg), URL: conf.DLQURL}, Log: o.Log, Metrics: o.Metrics}, nil
}
