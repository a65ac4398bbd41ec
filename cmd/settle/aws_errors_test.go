package main

import (
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/workflow"
)

// TestAWSBadInput: each mistake an operator can make gives one sentence on stderr, naming the fix, and
// a non-zero exit status; never a stack trace or a multi-line SDK dump.
func TestAWSBadInput(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, w *awsfake.World)
		args  []string
		code  int
		want  string
	}{
		{"missing credentials", func(t *testing.T, w *awsfake.World) {
			t.Setenv("AWS_ACCESS_KEY_ID", "")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		}, []string{"aws", "status"}, 1, "no AWS credentials found: pass --profile"},
		{"revoked credentials", func(t *testing.T, w *awsfake.World) { t.Setenv("AWS_ACCESS_KEY_ID", "AKIDREVOKED") },
			[]string{"aws", "status"}, 1, "AWS refused the credentials (InvalidClientTokenId)"},
		{"unknown profile", nil, []string{"aws", "status", "--profile", "oncall"}, 1, `AWS profile "oncall" is not in the shared config or credentials files`},
		{"no region", func(t *testing.T, w *awsfake.World) { t.Setenv("AWS_REGION", "") }, []string{"aws", "status"}, 1, "no AWS region: pass --region"},
		{"malformed region", nil, []string{"aws", "status", "--region", "ireland"}, 1, `"ireland" is not an AWS region name`},
		{"wrong region", nil, []string{"aws", "status", "--region", "us-east-1"}, 1, `stack "settle" does not exist in region us-east-1`},
		{"wrong stack", nil, []string{"aws", "executions", "--stack", "settle-prod"}, 1, `stack "settle-prod" does not exist in region eu-west-1`},
		{"stack without the outputs", func(t *testing.T, w *awsfake.World) {
			w.Fake.Stacks["website"] = map[string]string{"RawBucket": "raw", "BucketUrl": "https://example.com"}
		}, []string{"aws", "status", "--stack", "website"}, 1, `stack "website" (UPDATE_COMPLETE) lacks the outputs EventArchiveArn, EventBusArn, FailedFilesQueueArn`},
		{"unknown execution", nil, []string{"aws", "show", "0123456789abcdef"}, 1, `there is no execution named "0123456789abcdef" in state machine settlement; settle aws executions lists them`},
		{"redrive unknown execution", nil, []string{"aws", "redrive", "nope"}, 1, `there is no execution named "nope"`},
		{"replay beyond the archive", nil, []string{"aws", "replay", "--from", "2024-01-01", "--to", "2024-01-02"}, 1,
			"--from 2024-01-01T00:00:00Z is beyond the archive: the archive was created at 2024-04-01T00:00:00Z"},
		{"replay beyond retention", func(t *testing.T, w *awsfake.World) { w.Fake.Archive.RetentionDays = 7 },
			[]string{"aws", "replay", "--from", "2024-04-20", "--to", "2024-04-21"}, 1, "the archive keeps events for 7 days, so it holds events from 2024-04-30"},
		{"replay into the future", nil, []string{"aws", "replay", "--from", "1h", "--to", "2030-01-01"}, 1, "is in the future"},
		{"replay without --from", nil, []string{"aws", "replay"}, 2, "pass --from"},
		{"bad time", nil, []string{"aws", "executions", "--since", "yesterday"}, 2, `--since "yesterday" is not a time`},
		{"bad status", nil, []string{"aws", "executions", "--status", "BROKEN"}, 2, "--status BROKEN is not an execution status"},
		{"reprocess outside the raw bucket", nil, []string{"aws", "reprocess", "s3://elsewhere/x.csv"}, 1, "is not in the stack's raw bucket raw"},
		{"reprocess a missing object", nil, []string{"aws", "reprocess", "s3://raw/incoming/missing.csv"}, 1, "s3://raw/incoming/missing.csv does not exist"},
		{"reprocess not an address", nil, []string{"aws", "reprocess", "raw/x.csv"}, 1, `"raw/x.csv" is not an object address`},
		{"dlq unknown queue", nil, []string{"aws", "dlq", "list", "orders"}, 2, `the queue is ingest, failed or fetch, not "orders"`},
		{"dlq unknown message", nil, []string{"aws", "dlq", "show", "42"}, 1, "no message 42 in the dead-letter queues"},
		{"unknown aws command", nil, []string{"aws", "restart"}, 2, `unknown command "restart"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := awsfake.NewWorld(t, workflow.Config{})
			if c.setup != nil {
				c.setup(t, w)
			}
			out, errOut, code := cli(w, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr %q", code, c.code, errOut)
			}
			if !strings.Contains(errOut, c.want) {
				t.Errorf("stderr %q\nwant it to say %q", errOut, c.want)
			}
			if lines := strings.Count(strings.TrimSpace(errOut), "\n"); lines > 0 || !strings.HasPrefix(errOut, "settle: ") {
				t.Errorf("not one line of its own: %q", errOut)
			}
			if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") || strings.Contains(errOut, "operation error") {
				t.Errorf("a stack trace or an SDK dump: %q", errOut)
			}
			if out != "" && c.code != 0 && !strings.HasPrefix(out, "EXECUTION") {
				t.Errorf("stdout on failure: %q", out)
			}
		})
	}
}

// The messages of TestAWSBadInput, for the README (go test ./cmd/settle -run BadInputMessages -v).
func TestAWSBadInputMessages(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	w.Fake.Stacks["website"] = map[string]string{"RawBucket": "raw"}
	for _, args := range [][]string{
		{"aws", "status", "--region", "us-east-1"},
		{"aws", "status", "--stack", "website"},
		{"aws", "show", "0123456789abcdef"},
		{"aws", "replay", "--from", "2024-01-01", "--to", "2024-01-02"},
	} {
		_, errOut, code := cli(w, args...)
		t.Logf("$ settle %s\n%s(exit %d)", strings.Join(args, " "), errOut, code)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	_, errOut, code := cli(w, "aws", "status")
	t.Logf("$ settle aws status   # no credentials\n%s(exit %d)", errOut, code)
}
