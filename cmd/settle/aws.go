package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/states"
)

const awsUsage = `settle aws operates a deployed stack, with the standard AWS configuration (profile, region,
credentials) and the stack's outputs.

  settle aws status [--since 24h]                       queue depths, executions by status, the oldest running file
  settle aws executions [--status FAILED] [--since 24h] [--limit N]
  settle aws show NAME                                  an execution's history, failed step, error, cause, what to do
  settle aws redrive NAME [--force] [--dry-run]         RedriveExecution, or a new NAME-rN when no longer redrivable
  settle aws redrive --all-failed [--since 24h] [--dry-run] [--yes]
  settle aws replay --from T --to T [--dry-run] [--yes] replay archived raw-bucket events to the ingest rule
  settle aws dlq list [ingest|failed]                   dead-letter messages, without consuming them
  settle aws dlq show ID
  settle aws dlq redrive ingest|failed [ID...] [--dry-run] [--yes]
  settle aws reprocess s3://BUCKET/KEY [--replace] [--dry-run] [--yes]
  settle aws batches [--merchant M] [--json]            each merchant account's batches: gaps, cadence, lateness
  settle aws batches ack --merchant M --batch N|--closed --by WHO --reason WHY
  settle aws ledger --rebuild                           write the batch ledgers again from the manifests

Every command takes --stack NAME (default settle), --profile NAME and --region REGION (default: the
AWS_PROFILE, AWS_REGION and ~/.aws configuration). Times are RFC 3339 (2024-05-07T09:00:00Z), a date
(2024-05-07, UTC) or a duration ago (6h, 7d). The commands that change many things or replace data
(redrive --all-failed, dlq redrive without message ids, reprocess --replace, replay) show their plan and
ask on a terminal; elsewhere they need --yes.
`

// awsFlags are the flags every aws command takes.
type awsFlags struct {
	fs                     *flag.FlagSet
	stack, profile, region *string
}

func newAWSFlags(name string, stderr io.Writer) awsFlags {
	fs := flag.NewFlagSet("aws "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, awsUsage) }
	return awsFlags{fs: fs,
		stack:   fs.String("stack", ops.DefaultStack, "CloudFormation stack name"),
		profile: fs.String("profile", "", "AWS profile"),
		region:  fs.String("region", "", "AWS region"),
	}
}

// parse parses flags placed before or after the positional arguments.
func (a awsFlags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := a.fs.Parse(args); err != nil {
			return nil, &exitError{code: 2}
		}
		args = a.fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// awsNow is the clock of the aws commands; tests pin it.
var awsNow = time.Now

func (a awsFlags) connect(ctx context.Context) (*ops.Ops, error) {
	return ops.Connect(ctx, ops.Options{Stack: *a.stack, Profile: *a.profile, Region: *a.region, Now: awsNow})
}

func cmdAWS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, awsUsage)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "status":
		return awsStatus(ctx, rest, stdout, stderr)
	case "executions":
		return awsExecutions(ctx, rest, stdout, stderr)
	case "show":
		return awsShow(ctx, rest, stdout, stderr)
	case "redrive":
		return awsRedrive(ctx, rest, stdout, stderr)
	case "replay":
		return awsReplay(ctx, rest, stdout, stderr)
	case "dlq":
		return awsDLQ(ctx, rest, stdout, stderr)
	case "reprocess":
		return awsReprocess(ctx, rest, stdout, stderr)
	case "batches":
		return awsBatches(ctx, rest, stdout, stderr)
	case "ledger":
		return awsLedger(ctx, rest, stdout, stderr)
	default:
		return usageError("aws: unknown command %q; see settle aws help", cmd)
	}
}

// parseSince reads a --since value: a duration (24h, 90m, 7d) ago, or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, ok := parseDays(s); ok {
		return now.Add(-d), nil
	}
	return parseTime("--since", s, now)
}

func parseDays(s string) (time.Duration, bool) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if v, err := strconv.Atoi(n); err == nil && v >= 0 {
			return time.Duration(v) * 24 * time.Hour, true
		}
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d >= 0
}

// parseTime reads a time: RFC 3339, a UTC date or date and minute, "now", or a duration ago.
func parseTime(flagName, s string, now time.Time) (time.Time, error) {
	if s == "now" {
		return now, nil
	}
	if d, ok := parseDays(s); ok {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, usageError("%s %q is not a time: write 2024-05-07T09:00:00Z, 2024-05-07 (UTC) or a duration ago like 6h or 7d", flagName, s)
}

func awsStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAWSFlags("status", stderr)
	since := f.fs.String("since", "24h", "executions started since (duration ago or time)")
	if _, err := f.parse(args); err != nil {
		return err
	}
	from, err := parseSince(*since, awsNow())
	if err != nil {
		return err
	}
	o, err := f.connect(ctx)
	if err != nil {
		return err
	}
	st, err := o.Status(ctx, from)
	if err != nil {
		return err
	}
	printStatus(stdout, st)
	return nil
}

func awsExecutions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAWSFlags("executions", stderr)
	status := f.fs.String("status", "", "only executions with this status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED")
	since := f.fs.String("since", "24h", "started since (duration ago or time)")
	limit := f.fs.Int("limit", 100, "at most this many")
	if _, err := f.parse(args); err != nil {
		return err
	}
	from, err := parseSince(*since, awsNow())
	if err != nil {
		return err
	}
	if s := strings.ToUpper(*status); s != "" && !slices.Contains(states.Statuses, s) {
		return usageError("--status %s is not an execution status; use one of %s", *status, strings.Join(states.Statuses, ", "))
	}
	o, err := f.connect(ctx)
	if err != nil {
		return err
	}
	list, err := o.Executions(ctx, strings.ToUpper(*status), from, *limit)
	if err != nil {
		return err
	}
	printExecutions(stdout, list, awsNow())
	return nil
}

func awsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAWSFlags("show", stderr)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("aws show: name one execution (settle aws executions lists them)")
	}
	o, err := f.connect(ctx)
	if err != nil {
		return err
	}
	d, err := o.Show(ctx, pos[0])
	if err != nil {
		return err
	}
	printDetail(stdout, d)
	return nil
}

func awsRedrive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAWSFlags("redrive", stderr)
	all := f.fs.Bool("all-failed", false, "every execution that failed, timed out or was aborted since --since")
	since := f.fs.String("since", "24h", "with --all-failed: failed since (duration ago or time)")
	dry := f.fs.Bool("dry-run", false, "say what would be done, do nothing")
	force := f.fs.Bool("force", false, "redrive a rejected file's execution anyway (it re-enters the Fail state)")
	yes := f.fs.Bool("yes", false, "with --all-failed: go ahead without asking (required when not on a terminal)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if *all == (len(pos) == 1) || len(pos) > 1 {
		return usageError("aws redrive: name one execution, or pass --all-failed")
	}
	from, err := parseSince(*since, awsNow())
	if err != nil {
		return err
	}
	o, err := f.connect(ctx)
	if err != nil {
		return err
	}
	var actions []ops.Action
	if *all {
		if !*dry && !*yes {
			planned, err := o.RedriveFailed(ctx, from, true)
			if err != nil {
				return err
			}
			if ok, err := confirmActions(stdout, stderr, "aws redrive --all-failed", "Restart them?", planned); !ok {
				return err
			}
		}
		actions, err = o.RedriveFailed(ctx, from, *dry)
	} else {
		var a ops.Action
		a, err = o.Redrive(ctx, pos[0], *dry, *force)
		if a.Execution != "" {
			actions = []ops.Action{a}
		}
	}
	if len(actions) > 0 || err == nil {
		printActions(stdout, actions, viewOf(*dry))
	}
	if err != nil {
		return err
	}
	return actionsExit(actions)
}

// confirmActions shows planned restarts and asks whether to go ahead. It returns false when the
// command must stop: with the error to return, or nil when nothing would change (the plan, printed,
// is the answer).
func confirmActions(stdout, stderr io.Writer, command, question string, planned []ops.Action) (bool, error) {
	if changes(planned) == 0 { // nothing to confirm: what there is to say is said
		printActions(stdout, planned, done)
		return false, actionsExit(planned)
	}
	printActions(stdout, planned, plan)
	if err := confirm(stderr, command, question); err != nil {
		return false, err
	}
	fmt.Fprintln(stdout)
	return true, nil
}

// actionsExit fails the command when a restart failed, or when the only one asked for was skipped.
func actionsExit(actions []ops.Action) error {
	failed := 0
	for _, a := range actions {
		if a.Outcome == ops.Failed || a.Err != nil {
			failed++
		}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d restarts failed", failed, len(actions))}
	}
	if len(actions) == 1 && actions[0].Outcome == ops.Skipped {
		return &exitError{code: 1, msg: actions[0].Execution + " was not restarted: " + actions[0].Note}
	}
	return nil
}

func awsReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAWSFlags("replay", stderr)
	fromS := f.fs.String("from", "", "start of the window (time or duration ago)")
	toS := f.fs.String("to", "now", "end of the window (time or duration ago)")
	dry := f.fs.Bool("dry-run", false, "check the window, start nothing")
	yes := f.fs.Bool("yes", false, "go ahead without asking (required when not on a terminal)")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if *fromS == "" {
		return usageError("aws replay: pass --from (and --to, default now)")
	}
	now := awsNow()
	from, err := parseTime("--from", *fromS, now)
	if err != nil {
		return err
	}
	to, err := parseTime("--to", *toS, now)
	if err != nil {
		return err
	}
	o, err := f.connect(ctx)
	if err != nil {
		return err
	}
	if !*dry && !*yes {
		planned, err := o.Replay(ctx, from, to, true)
		if err != nil {
			return err
		}
		printReplayPlan(stdout, planned)
		if err := confirm(stderr, "aws replay", "Start the replay?"); err != nil {
			return err
		}
		r, err := o.Replay(ctx, from, to, false)
		if err != nil {
			return err
		}
		printReplayResult(stdout, r, false)
		return nil
	}
	r, err := o.Replay(ctx, from, to, *dry)
	if err != nil {
		return err
	}
	printReplayPlan(stdout, r)
	printReplayResult(stdout, r, *dry)
	return nil
}

func awsDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("aws dlq: list, show or redrive")
	}
	sub, rest := args[0], args[1:]
	f := newAWSFlags("dlq "+sub, stderr)
	dry := f.fs.Bool("dry-run", false, "say what would be done, do nothing")
	yes := f.fs.Bool("yes", false, "redrive without message ids: go ahead without asking (required when not on a terminal)")
	max := f.fs.Int("max", 100, "list: at most this many messages per queue")
	pos, err := f.parse(rest)
	if err != nil {
		return err
	}
	queueArg := func() (string, error) {
		if len(pos) == 0 {
			return "", nil
		}
		switch pos[0] {
		case "ingest", "failed":
			return pos[0], nil
		}
		return "", usageError("aws dlq %s: the queue is ingest or failed, not %q", sub, pos[0])
	}
	switch sub {
	case "list":
		q, err := queueArg()
		if err != nil {
			return err
		}
		if len(pos) > 1 {
			return usageError("aws dlq list: name at most one queue (ingest or failed)")
		}
		o, err := f.connect(ctx)
		if err != nil {
			return err
		}
		msgs, err := o.DLQList(ctx, q, *max)
		if err != nil {
			return err
		}
		printDLQ(stdout, msgs, awsNow())
		return nil
	case "show":
		if len(pos) != 1 {
			return usageError("aws dlq show: name one message id (settle aws dlq list shows them)")
		}
		o, err := f.connect(ctx)
		if err != nil {
			return err
		}
		m, err := o.DLQShow(ctx, pos[0])
		if err != nil {
			return err
		}
		printDLQMessage(stdout, m)
		return nil
	case "redrive":
		q, err := queueArg()
		if err != nil {
			return err
		}
		if q == "" {
			return usageError("aws dlq redrive: name the queue, ingest or failed")
		}
		o, err := f.connect(ctx)
		if err != nil {
			return err
		}
		if q == "ingest" {
			if len(pos) > 1 {
				return usageError("aws dlq redrive ingest: the ingest DLQ is moved whole; it takes no message ids")
			}
			if !*dry && !*yes {
				planned, err := o.DLQRedriveIngest(ctx, true)
				if err != nil {
					return err
				}
				printMove(stdout, planned, plan)
				if planned.Messages == 0 {
					return nil
				}
				if err := confirm(stderr, "aws dlq redrive ingest", "Move them?"); err != nil {
					return err
				}
			}
			t, err := o.DLQRedriveIngest(ctx, *dry)
			if err != nil {
				return err
			}
			printMove(stdout, t, viewOf(*dry))
			return nil
		}
		if len(pos) == 1 && !*dry && !*yes { // every message of the queue
			planned, err := o.DLQRedriveFailed(ctx, nil, true)
			if err != nil {
				return err
			}
			if ok, err := confirmActions(stdout, stderr, "aws dlq redrive failed", "Restart them and delete their messages?", planned); !ok {
				return err
			}
		}
		actions, err := o.DLQRedriveFailed(ctx, pos[1:], *dry)
		printActions(stdout, actions, viewOf(*dry))
		if err != nil {
			return err
		}
		return actionsExit(actions)
	}
	return usageError("aws dlq: unknown command %q; use list, show or redrive", sub)
}

func awsReprocess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAWSFlags("reprocess", stderr)
	replace := f.fs.Bool("replace", false, "replace the batch's committed file with this one")
	dry := f.fs.Bool("dry-run", false, "say what would be done, do nothing")
	yes := f.fs.Bool("yes", false, "with --replace: go ahead without asking (required when not on a terminal)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("aws reprocess: name one object, s3://BUCKET/KEY")
	}
	o, err := f.connect(ctx)
	if err != nil {
		return err
	}
	if *replace && !*dry && !*yes {
		planned, err := o.Reprocess(ctx, pos[0], true, true)
		if err != nil {
			return err
		}
		if ok, err := confirmActions(stdout, stderr, "aws reprocess --replace", "Replace the batch's committed file with this one?", []ops.Action{planned}); !ok {
			return err
		}
	}
	a, err := o.Reprocess(ctx, pos[0], *replace, *dry)
	if err != nil {
		return err
	}
	printActions(stdout, []ops.Action{a}, viewOf(*dry))
	return nil
}
