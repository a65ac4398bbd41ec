package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3tables"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/paysettle/settle/internal/cloud"
)

// Outputs of the stack (template.yaml) that the commands read.
const (
	OutRawBucket                = "RawBucket"
	OutProcessedBucket          = "ProcessedBucket"
	OutStateMachineARN          = "StateMachineArn"
	OutStateMachineConsoleURL   = "StateMachineConsoleUrl"
	OutIngestQueueURL           = "IngestQueueUrl"
	OutIngestQueueARN           = "IngestQueueArn"
	OutIngestDeadLetterQueueURL = "IngestDeadLetterQueueUrl"
	OutIngestDeadLetterQueueARN = "IngestDeadLetterQueueArn"
	OutFailedFilesQueueURL      = "FailedFilesQueueUrl"
	OutFailedFilesQueueARN      = "FailedFilesQueueArn"
	OutAlertTopicARN            = "AlertTopicArn"
	OutEventBusARN              = "EventBusArn"
	OutEventArchiveARN          = "EventArchiveArn"
	OutIngestRuleARN            = "IngestRuleArn"
	OutGlueDatabase             = "GlueDatabase"
	OutAthenaExampleQuery       = "AthenaExampleQuery"
	OutMetricsNamespace         = "MetricsNamespace"
	// The S3 Tables table of record (a stack deployed before it keeps the table in the processed bucket).
	OutTableBucketARN = "TableBucketArn"
	OutTableNamespace = "TableNamespace"
	OutTableName      = "TableName"
)

// Outputs of the report intake (Adyen's webhook and the report fetcher). A stack deployed before it
// lacks them; the commands then leave those queues out.
const (
	OutWebhookURL              = "WebhookUrl"
	OutWebhookQueueURL         = "WebhookQueueUrl"
	OutFetchDeadLetterQueueURL = "FetchDeadLetterQueueUrl"
)

// RequiredOutputs are the outputs without which the commands cannot work.
var RequiredOutputs = []string{
	OutRawBucket, OutStateMachineARN, OutIngestQueueURL, OutIngestQueueARN, OutIngestDeadLetterQueueURL,
	OutIngestDeadLetterQueueARN, OutFailedFilesQueueURL, OutFailedFilesQueueARN, OutEventBusARN,
	OutEventArchiveARN, OutIngestRuleARN,
}

// DefaultStack is the stack name when none is given (samconfig.toml's).
const DefaultStack = "settle"

// Stack is a deployed stack: its name, region and outputs.
type Stack struct {
	Name    string
	Region  string
	Status  string
	Outputs map[string]string
}

// Out returns an output's value ("" when absent).
func (s Stack) Out(key string) string { return s.Outputs[key] }

// Options say which stack to operate and how to reach AWS.
type Options struct {
	Stack   string // default DefaultStack
	Profile string // a named profile of ~/.aws/config; empty: the standard chain (AWS_PROFILE, env, SSO, roles)
	Region  string // empty: AWS_REGION, the profile's region
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Ops is the operator of one stack: the Operator on the stack's executions, queues and buckets, with
// the AWS clients it reaches them by, and what only a stack has (Replay).
type Ops struct {
	*Operator
	SFN    *sfn.Client
	SQS    *sqs.Client
	Events *eventbridge.Client
	S3     *s3.Client
	Tables *s3tables.Client
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`)

// Connect loads the AWS configuration, checks that it has a region and credentials, and reads the
// stack's outputs. Each failure is one sentence saying what to fix.
func Connect(ctx context.Context, opts Options) (*Ops, error) {
	if opts.Stack == "" {
		opts.Stack = DefaultStack
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var lo []func(*config.LoadOptions) error
	if opts.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		lo = append(lo, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		var pe config.SharedConfigProfileNotExistError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("AWS profile %q is not in the shared config or credentials files; pass an existing --profile or run aws configure --profile %s", pe.Profile, pe.Profile)
		}
		return nil, fmt.Errorf("cannot load the AWS configuration: %v", oneLine(err))
	}
	switch {
	case cfg.Region == "":
		return nil, errors.New("no AWS region: pass --region (for example --region eu-west-1) or set AWS_REGION")
	case !regionRE.MatchString(cfg.Region):
		return nil, fmt.Errorf("%q is not an AWS region name (like eu-west-1); pass a valid --region", cfg.Region)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := cfg.Credentials.Retrieve(cctx); err != nil {
		return nil, errors.New("no AWS credentials found: pass --profile, set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run aws sso login")
	}
	stack, err := loadStack(ctx, cloudformation.NewFromConfig(cfg), opts.Stack, cfg.Region)
	if err != nil {
		return nil, err
	}
	o := &Ops{
		SFN:    sfn.NewFromConfig(cfg),
		SQS:    sqs.NewFromConfig(cfg),
		Events: eventbridge.NewFromConfig(cfg),
		S3:     cloud.NewS3(cfg, os.Getenv),
		Tables: s3tables.NewFromConfig(cfg),
	}
	o.Operator = &Operator{
		Machine:   awsExecutions{o},
		Queues:    awsQueues{o},
		Files:     awsFiles{o},
		Processed: o.processed,
		RawBucket: stack.Out(OutRawBucket),
		Policy:    o.BatchPolicy,
		Stack:     stack,
		Command:   func(verb string) string { return "settle aws " + verb },
		Explain:   func(what string, err error) error { return explain(what, stack.Region, err) },
		Now:       opts.Now,
	}
	return o, nil
}

func loadStack(ctx context.Context, cfn *cloudformation.Client, name, region string) (Stack, error) {
	out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "does not exist") {
		return Stack{}, fmt.Errorf("stack %q does not exist in region %s: pass the stack's --stack and --region (sam deploy's stack_name and region)", name, region)
	}
	if err != nil {
		return Stack{}, explain("read the stack "+name, region, err)
	}
	if len(out.Stacks) == 0 {
		return Stack{}, fmt.Errorf("stack %q does not exist in region %s: pass the stack's --stack and --region", name, region)
	}
	st := out.Stacks[0]
	s := Stack{Name: name, Region: region, Status: string(st.StackStatus), Outputs: map[string]string{}}
	for _, o := range st.Outputs {
		s.Outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	var missing []string
	for _, k := range RequiredOutputs {
		if s.Outputs[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Stack{}, fmt.Errorf("stack %q (%s) lacks the outputs %s: it is not a settle stack, or its deployment has not finished; pass the right --stack or deploy template.yaml",
			name, s.Status, strings.Join(missing, ", "))
	}
	return s, nil
}

// refusal is an error that is already one sentence for a person (a queue the stack lacks, say):
// explain leaves it as it is.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

// explain turns an AWS SDK error into one sentence: what failed and, for the usual causes, what to do.
func explain(what, region string, err error) error {
	var r *refusal
	if errors.As(err, &r) || errors.Is(err, ErrNoExecution) {
		return err
	}
	var ae smithy.APIError
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &ae):
		code := ae.ErrorCode()
		switch {
		case slices.Contains([]string{"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException", "InvalidSignatureException", "IncompleteSignature"}, code):
			return fmt.Errorf("cannot %s: AWS refused the credentials (%s); refresh them (aws sso login) or pass another --profile", what, code)
		case code == "AccessDenied" || code == "AccessDeniedException" || strings.HasSuffix(code, "AuthorizationError") || code == "UnauthorizedOperation":
			return fmt.Errorf("cannot %s: access denied for these credentials (%s)", what, oneLine(errors.New(ae.ErrorMessage())))
		case strings.Contains(code, "Throttl") || code == "RequestLimitExceeded" || code == "TooManyRequestsException":
			return fmt.Errorf("cannot %s: AWS is throttling the requests; try again in a minute", what)
		}
		return fmt.Errorf("cannot %s: %s: %s", what, code, oneLine(errors.New(ae.ErrorMessage())))
	case errors.As(err, &dns):
		return fmt.Errorf("cannot %s: the AWS endpoint %s does not resolve; is %s the right --region, and is the network up?", what, dns.Name, region)
	case errors.As(err, &op):
		return fmt.Errorf("cannot %s: AWS in region %s cannot be reached (%v)", what, region, op.Err)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("cannot %s: interrupted", what)
	}
	return fmt.Errorf("cannot %s: %s", what, oneLine(err))
}

// oneLine keeps an error to one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
