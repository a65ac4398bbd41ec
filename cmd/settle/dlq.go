package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
)

// dlqOptions are the flags of the dlq commands.
type dlqOptions struct {
	args     []string
	max      int
	dry, yes bool
	json     bool
}

func newDLQCmd(a *app, t *target) *cobra.Command {
	cmd := parent(&cobra.Command{
		Use:   "dlq",
		Short: "The dead-letter queues: list, show and redrive their messages",
		Long: `The failed-files DLQ holds one message per file that needs a person: the execution, the step, the
error and what to do. On a stack, the ingest DLQ holds the raw-bucket events the starter gave up on
(the local pipeline has none: settle run hands each event to the starter itself), and the fetch DLQ the
reports Adyen announced that could not be downloaded, each with its reason and what to do (locally they
are files in the data folder's ` + local.FetchDLQDir + `/). Listing reads the messages without consuming them.`,
		Example: `  ` + t.prefix() + ` dlq list
  ` + t.prefix() + ` dlq show ID
  ` + t.prefix() + ` dlq redrive failed --yes`,
	})
	cmd.AddCommand(newDLQListCmd(a, t), newDLQShowCmd(a, t), newDLQRedriveCmd(a, t))
	return cmd
}

// queueArg checks a queue argument: ingest, failed or fetch (a stack's only).
func queueArg(t *target, sub string, args []string) (string, error) {
	if len(args) == 0 {
		return "", nil
	}
	switch args[0] {
	case "ingest", "failed":
		return args[0], nil
	case "fetch":
		if !t.aws {
			return "", usageError("%s dlq %s fetch: the local pipeline's failed downloads are files in the data folder's %s/, each with its reason; settle fetch URL downloads a report again (the fetch queue is a stack's: settle aws dlq %s fetch)", t.prefix(), sub, local.FetchDLQDir, sub)
		}
		return args[0], nil
	}
	queues := "ingest or failed"
	if t.aws {
		queues = "ingest, failed or fetch"
	}
	return "", usageError("%s dlq %s: the queue is %s, not %q", t.prefix(), sub, queues, args[0])
}

func newDLQListCmd(a *app, t *target) *cobra.Command {
	var o dlqOptions
	cmd := &cobra.Command{
		Use:   "list [ingest|failed|fetch]",
		Short: "List the messages of the dead-letter queues, oldest first",
		Example: `  ` + t.prefix() + ` dlq list failed
  ` + t.prefix() + ` dlq list --json | jq -r 'select(.kind == "rejected") | .id'`,
		Args: maxArgs(1, "name at most one queue (ingest, failed or fetch)"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			q, err := queueArg(t, "list", args)
			if err != nil {
				return err
			}
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			msgs, err := op.DLQList(cmd.Context(), q, o.max)
			if err != nil {
				return err
			}
			if o.json {
				for _, m := range msgs {
					if err := printJSON(a.stdout, toDLQJSON(op, m)); err != nil {
						return err
					}
				}
				return nil
			}
			printDLQ(a.stdout, msgs, a.now())
			return nil
		}),
	}
	t.flags(cmd)
	cmd.Flags().IntVar(&o.max, "max", 100, "at most this many messages per queue")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object per message")
	return cmd
}

func newDLQShowCmd(a *app, t *target) *cobra.Command {
	var o dlqOptions
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "One message: its file, execution, step, error, cause and what to do",
		Example: `  ` + t.prefix() + ` dlq show ID   # IDs from ` + t.prefix() + ` dlq list
  ` + t.prefix() + ` dlq show ID --json | jq .body`,
		Args: exactArgs(1, "name one message id ("+t.prefix()+" dlq list shows them)"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			m, err := op.DLQShow(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(a.stdout, toDLQShowJSON(op, m))
			}
			printDLQMessage(a.stdout, op, m)
			return nil
		}),
	}
	t.flags(cmd)
	cmd.Flags().BoolVar(&o.json, "json", false, "print the message, its fix and redrive command and its body as one JSON object")
	return cmd
}

func newDLQRedriveCmd(a *app, t *target) *cobra.Command {
	var o dlqOptions
	cmd := &cobra.Command{
		Use:   "redrive ingest|failed|fetch [ID...]",
		Short: "Restart the files of the failed-files DLQ (or move the ingest DLQ back, or requeue failed downloads), then delete their messages",
		Long: `dlq redrive failed restarts the execution of each file in the failed-files DLQ (only the messages
named, when ids are given), then deletes its messages: a file that failed for an infrastructure reason
is redriven; a rejected file gets a new execution of the same file and input under the configuration in
force now (run it once the cause is fixed: a raised MAX_REJECTED_ROWS, a time-zone mapping). dlq
redrive ingest moves the ingest DLQ back to the ingest queue (a stack only). dlq redrive fetch sends
the report request of each message of the fetch DLQ back to the webhook queue, where the fetch
function downloads it again, then deletes the message (a stack only; run it once the cause is fixed:
the report user's credentials or role, MaxFileBytes). Without message ids it shows its plan and asks
on a terminal; elsewhere it needs --yes.`,
		Example: `  ` + t.prefix() + ` dlq redrive failed --dry-run
  ` + t.prefix() + ` dlq redrive failed ID --yes`,
		Args: minArgs(1, "name the queue, ingest, failed or fetch"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			o.args = args
			q, err := queueArg(t, "redrive", args)
			if err != nil {
				return err
			}
			if q == "ingest" && len(args) > 1 {
				return usageError("%s dlq redrive ingest: the ingest DLQ is moved whole; it takes no message ids", t.prefix())
			}
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			switch q {
			case "ingest":
				return runDLQRedriveIngest(cmd.Context(), a, op, o)
			case "fetch":
				return runDLQRedriveFetch(cmd.Context(), a, op, o)
			}
			return runDLQRedriveFailed(cmd.Context(), a, op, o)
		}),
	}
	t.flags(cmd)
	cmd.Flags().BoolVar(&o.dry, "dry-run", false, "say what would be done, do nothing")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "without message ids: go ahead without asking (required when not on a terminal)")
	return cmd
}

func runDLQRedriveIngest(ctx context.Context, a *app, op operator, o dlqOptions) error {
	if !o.dry && !o.yes {
		planned, err := op.DLQRedriveIngest(ctx, true)
		if err != nil {
			return err
		}
		printMove(a.stdout, op, planned, plan)
		if planned.Messages == 0 {
			return nil
		}
		if err := a.confirm(op.command("dlq redrive ingest"), "Move them?"); err != nil {
			return err
		}
	}
	mv, err := op.DLQRedriveIngest(ctx, o.dry)
	if err != nil {
		return err
	}
	printMove(a.stdout, op, mv, viewOf(o.dry))
	return nil
}

func runDLQRedriveFailed(ctx context.Context, a *app, op operator, o dlqOptions) error {
	ids := o.args[1:]
	if len(ids) == 0 && !o.dry && !o.yes { // every message of the queue
		planned, err := op.DLQRedriveFailed(ctx, nil, true)
		if err != nil {
			return err
		}
		if ok, err := confirmActions(a, op, op.command("dlq redrive failed"), "Restart them and delete their messages?", planned, false); !ok {
			return err
		}
	}
	actions, err := op.DLQRedriveFailed(ctx, ids, o.dry)
	if len(actions) > 0 || err == nil {
		printActions(a.stdout, op, actions, viewOf(o.dry))
	}
	if err != nil {
		return err
	}
	return actionsExit(actions)
}

func runDLQRedriveFetch(ctx context.Context, a *app, op operator, o dlqOptions) error {
	fo := op
	if op.stack == nil {
		return usageError("%s: the local pipeline has no fetch dead-letter queue; its failed downloads are files in %s/", op.command("dlq redrive fetch"), local.FetchDLQDir)
	}
	ids := o.args[1:]
	if len(ids) == 0 && !o.dry && !o.yes { // every message of the queue
		planned, err := fo.DLQRedriveFetch(ctx, nil, true)
		if err != nil {
			return err
		}
		printFetchRedrives(a.stdout, planned, plan)
		if requeued(planned) == 0 {
			return nil
		}
		if err := a.confirm(op.command("dlq redrive fetch"), "Send them back to the webhook queue and delete their messages?"); err != nil {
			return err
		}
	}
	list, err := fo.DLQRedriveFetch(ctx, ids, o.dry)
	if len(list) > 0 || err == nil {
		printFetchRedrives(a.stdout, list, viewOf(o.dry))
	}
	if err != nil {
		return err
	}
	failedN := 0
	for _, r := range list {
		if r.Outcome == ops.Failed || r.Err != nil {
			failedN++
		}
	}
	if failedN > 0 {
		return failed("%d of %d messages could not be sent back to the webhook queue", failedN, len(list))
	}
	return nil
}

func requeued(list []ops.FetchRedrive) int {
	n := 0
	for _, r := range list {
		if r.Outcome == ops.FetchRequeued {
			n++
		}
	}
	return n
}

// printFetchRedrives prints what a redrive of the fetch DLQ did (or would do) with each message.
func printFetchRedrives(w io.Writer, list []ops.FetchRedrive, v view) {
	printViewHeader(w, v)
	tw := table(w)
	fmt.Fprintln(tw, "MESSAGE\tFILE\tOUTCOME\tNOTE")
	for _, r := range list {
		outcome, note := r.Outcome, r.Note
		if v != done && outcome == ops.FetchRequeued {
			outcome = "would be " + outcome
		}
		if r.Err != nil {
			note = r.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, ops.OrDash(r.Key), outcome, ops.OrDash(note))
	}
	tw.Flush()
	switch {
	case len(list) == 0:
		fmt.Fprintln(w, "(the fetch dead-letter queue is empty)")
	case v == done && requeued(list) > 0:
		fmt.Fprintf(w, "\n%s back in the webhook queue: the fetch function downloads them again (settle aws status shows the queues).\n", plural(requeued(list), "report request", "report requests"))
	}
}
