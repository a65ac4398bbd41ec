package main

import (
	"context"

	"github.com/spf13/cobra"
)

// dlqOptions are the flags of the dlq commands.
type dlqOptions struct {
	args     []string
	max      int
	dry, yes bool
}

func newDLQCmd(a *app, t *target) *cobra.Command {
	cmd := parent(&cobra.Command{
		Use:   "dlq",
		Short: "The dead-letter queues: list, show and redrive their messages",
		Long: `The failed-files DLQ holds one message per file that needs a person: the execution, the step, the
error and what to do. On a stack, the ingest DLQ holds the raw-bucket events the starter gave up on
(the local pipeline has none: settle run hands each event to the starter itself). Listing reads the
messages without consuming them.`,
		Example: `  ` + t.prefix() + ` dlq list
  ` + t.prefix() + ` dlq show ID
  ` + t.prefix() + ` dlq redrive failed --yes`,
	})
	cmd.AddCommand(newDLQListCmd(a, t), newDLQShowCmd(a, t), newDLQRedriveCmd(a, t))
	return cmd
}

// queueArg checks a queue argument: ingest or failed.
func queueArg(t *target, sub string, args []string) (string, error) {
	if len(args) == 0 {
		return "", nil
	}
	switch args[0] {
	case "ingest", "failed":
		return args[0], nil
	}
	return "", usageError("%s dlq %s: the queue is ingest or failed, not %q", t.prefix(), sub, args[0])
}

func newDLQListCmd(a *app, t *target) *cobra.Command {
	var o dlqOptions
	cmd := &cobra.Command{
		Use:     "list [ingest|failed]",
		Short:   "List the messages of the dead-letter queues, oldest first",
		Example: `  ` + t.prefix() + ` dlq list failed`,
		Args:    maxArgs(1, "name at most one queue (ingest or failed)"),
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
			printDLQ(a.stdout, msgs, a.now())
			return nil
		}),
	}
	t.flags(cmd)
	cmd.Flags().IntVar(&o.max, "max", 100, "at most this many messages per queue")
	return cmd
}

func newDLQShowCmd(a *app, t *target) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "One message: its file, execution, step, error, cause and what to do",
		Example: `  ` + t.prefix() + ` dlq show ID   # IDs from ` + t.prefix() + ` dlq list`,
		Args:    exactArgs(1, "name one message id ("+t.prefix()+" dlq list shows them)"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			m, err := op.DLQShow(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			printDLQMessage(a.stdout, op, m)
			return nil
		}),
	}
	t.flags(cmd)
	return cmd
}

func newDLQRedriveCmd(a *app, t *target) *cobra.Command {
	var o dlqOptions
	cmd := &cobra.Command{
		Use:   "redrive ingest|failed [ID...]",
		Short: "Restart the files of the failed-files DLQ (or move the ingest DLQ back), then delete their messages",
		Long: `dlq redrive failed restarts the execution of each file in the failed-files DLQ (only the messages
named, when ids are given), then deletes its messages: a file that failed for an infrastructure reason
is redriven; a rejected file gets a new execution of the same file and input under the configuration in
force now (run it once the cause is fixed: a raised MAX_REJECTED_ROWS, a time-zone mapping). dlq
redrive ingest moves the ingest DLQ back to the ingest queue (a stack only). Without message ids it
shows its plan and asks on a terminal; elsewhere it needs --yes.`,
		Example: `  ` + t.prefix() + ` dlq redrive failed --dry-run
  ` + t.prefix() + ` dlq redrive failed ID --yes`,
		Args: minArgs(1, "name the queue, ingest or failed"),
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
			if q == "ingest" {
				return runDLQRedriveIngest(cmd.Context(), a, op, o)
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
		if ok, err := confirmActions(a, op, op.command("dlq redrive failed"), "Restart them and delete their messages?", planned); !ok {
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
