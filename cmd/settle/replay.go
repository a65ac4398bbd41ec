package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/ops"
)

// replayOptions are the flags of aws replay.
type replayOptions struct {
	from, to string
	dry, yes bool
}

func newReplayCmd(a *app, t *target) *cobra.Command {
	var o replayOptions
	cmd := &cobra.Command{
		Use:   "replay --from T [--to T]",
		Short: "Replay the archived raw-bucket events of a window to the ingest rule",
		Long: `Replay sends the Object Created events of the window again, from the stack's EventBridge archive, to
the ingest rule only: files that never started start now, files that failed on an infrastructure error
are redriven, the others count as duplicate deliveries, and rejected files stay rejected (the plan lists
them, with the reprocess command that runs one again). It shows its plan and asks on a terminal;
elsewhere it needs --yes.`,
		Example: `  settle aws replay --from 2024-05-07T08:00:00Z --to 2024-05-07T10:00:00Z --dry-run
  settle aws replay --from 6h --yes`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if o.from == "" {
				return usageError("settle aws replay: pass --from (and --to, default now)")
			}
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			return runReplay(cmd.Context(), a, op.stack, o)
		}),
	}
	cmd.Flags().StringVar(&o.from, "from", "", "start of the window (a time, or a duration ago)")
	cmd.Flags().StringVar(&o.to, "to", "now", "end of the window (a time, or a duration ago)")
	cmd.Flags().BoolVar(&o.dry, "dry-run", false, "check the window, start nothing")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "go ahead without asking (required when not on a terminal)")
	return cmd
}

func runReplay(ctx context.Context, a *app, o *ops.Ops, opt replayOptions) error {
	now := a.now()
	from, err := parseTime("--from", opt.from, now)
	if err != nil {
		return err
	}
	to, err := parseTime("--to", opt.to, now)
	if err != nil {
		return err
	}
	if !opt.dry && !opt.yes {
		planned, err := o.Replay(ctx, from, to, true)
		if err != nil {
			return err
		}
		printReplayPlan(a.stdout, planned)
		if err := a.confirm("settle aws replay", "Start the replay?"); err != nil {
			return err
		}
		r, err := o.Replay(ctx, from, to, false)
		if err != nil {
			return err
		}
		printReplayResult(a.stdout, r, false)
		return nil
	}
	r, err := o.Replay(ctx, from, to, opt.dry)
	if err != nil {
		return err
	}
	printReplayPlan(a.stdout, r)
	printReplayResult(a.stdout, r, opt.dry)
	return nil
}

// printReplayPlan prints a replay's window and what its events will meet.
func printReplayPlan(w io.Writer, r *ops.Replay) {
	retention := "forever"
	if r.Retention > 0 {
		retention = fmt.Sprintf("%d days", r.Retention)
	}
	fmt.Fprintf(w, "Archive  %s (keeps events %s; has events from %s)\n", r.Archive, retention, ts(r.ArchiveFrom))
	fmt.Fprintf(w, "Window   %s to %s\n", ts(r.From), ts(r.To))
	fmt.Fprintf(w, "Target   %s, rule %s only\n", r.Bus, r.Rule)
	n := len(r.Duplicates) + len(r.Restarts) + len(r.Rejected)
	fmt.Fprintf(w, "\nFiles with an execution started in the window: %d. The replayed events of files without one start it.\n", n)
	fmt.Fprintf(w, "  %s: duplicate deliveries, nothing runs again\n", plural(len(r.Duplicates), "running or succeeded", "running or succeeded"))
	fmt.Fprintf(w, "  %s on an infrastructure error: redriven from the failed step (or restarted as -rN)\n", plural(len(r.Restarts), "failed", "failed"))
	fmt.Fprintf(w, "  %s on a data error: skipped, they stay rejected (not redriven)\n", plural(len(r.Rejected), "rejected", "rejected"))
	if len(r.Restarts)+len(r.Rejected) == 0 {
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "\nEXECUTION\tFILE\tERROR\tREPLAY\tTO RUN IT AGAIN")
	for _, f := range r.Restarts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Execution, f.File.URL(), ops.OrDash(f.Error), "redrives it", "-")
	}
	for _, f := range r.Rejected {
		again := f.Reprocess()
		if f.ProcessedBy != "" {
			again = "nothing to do: processed by " + f.ProcessedBy
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Execution, f.File.URL(), f.Error, "skips it", again)
	}
	tw.Flush()
}

// printReplayResult prints what became of the replay (or, in a dry run, that nothing was started).
func printReplayResult(w io.Writer, r *ops.Replay, dry bool) {
	if dry {
		fmt.Fprintf(w, "\nDry run: the window is replayable; settle aws replay without --dry-run starts %s.\n", r.Name)
		return
	}
	fmt.Fprintf(w, "\nReplay   %s: %s\n", r.Name, r.State)
	fmt.Fprintln(w, "Each replayed event reaches the starter again: files never started start now, the others count as duplicate deliveries, rejected files stay rejected. Follow with settle aws status.")
}
