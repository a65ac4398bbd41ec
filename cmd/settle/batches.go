package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/webhook"
	"github.com/paysettle/settle/internal/workflow"
)

// batchesOptions are the flags of batches.
type batchesOptions struct {
	merchant string
	json     bool
}

func newBatchesCmd(a *app, t *target) *cobra.Command {
	var o batchesOptions
	cmd := &cobra.Command{
		Use:   "batches",
		Short: "Each merchant account's batches: last batch, age, cadence, gaps, lateness, what to do",
		Long: `Batches reads the batch ledger of each merchant account (its committed batches, numbered by Adyen in
sequence): the last batch and its age, the cadence, the batches missing between committed ones once
the grace period (BATCH_GRACE_HOURS, 48) has passed, and lateness against the cadence, with what to
do. Batches that will never come are acknowledged with batches ack.`,
		Example: `  ` + t.prefix() + ` batches
  ` + t.prefix() + ` batches --merchant AcmeShopNL --json`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			sts, err := op.Batches(cmd.Context(), o.merchant)
			if err != nil {
				return err
			}
			return printBatches(a.stdout, sts, o.json, o.merchant)
		}),
	}
	t.flags(cmd)
	cmd.Flags().StringVar(&o.merchant, "merchant", "", "only this merchant account")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object per merchant account")
	cmd.AddCommand(newBatchesAckCmd(a, t))
	if !t.aws { // on a stack the check runs every hour on its own (BatchCheckSchedule)
		cmd.AddCommand(newBatchesCheckCmd(a))
	}
	return cmd
}

// printBatches prints statuses as a table with advice, or as JSON lines.
func printBatches(w io.Writer, sts []ledger.Status, asJSON bool, merchant string) error {
	if asJSON {
		for _, s := range sts {
			b, err := json.Marshal(s)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, string(b))
		}
		return nil
	}
	if len(sts) == 0 {
		if merchant != "" {
			fmt.Fprintf(w, "No batch of merchant account %s is committed.\n", merchant)
		} else {
			fmt.Fprintln(w, "No batch is committed yet.")
		}
		return nil
	}
	return ledger.WriteTable(w, sts)
}

// ackOptions are the flags of batches ack.
type ackOptions struct {
	provider, merchant, batches, by, reason string
	closed                                  bool
}

func newBatchesAckCmd(a *app, t *target) *cobra.Command {
	var o ackOptions
	cmd := &cobra.Command{
		Use:   "ack --merchant M --batch N|--closed --by WHO --reason WHY",
		Short: "Acknowledge batches that will never come, or a closed account: no alert about them again",
		Example: `  ` + t.prefix() + ` batches ack --merchant AcmeShopNL --batch 8 --by ana --reason "Adyen: number skipped"
  ` + t.prefix() + ` batches ack --merchant OldShop --closed --by ana --reason "account closed in March"`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			ack, err := o.ack(t.prefix() + " batches ack")
			if err != nil {
				return err
			}
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			added, err := op.Acknowledge(cmd.Context(), o.provider, o.merchant, ack)
			if err != nil {
				return err
			}
			printAck(a.stdout, o.provider, o.merchant, ack, added)
			return nil
		}),
	}
	t.flags(cmd)
	cmd.Flags().StringVar(&o.provider, "provider", settlement.ProviderAdyen, "provider")
	cmd.Flags().StringVar(&o.merchant, "merchant", "", "merchant account")
	cmd.Flags().StringVar(&o.batches, "batch", "", "batch number N, or N-M, that will never come")
	cmd.Flags().BoolVar(&o.closed, "closed", false, "the merchant account is closed: no more batches")
	cmd.Flags().StringVar(&o.by, "by", a.getenv("USER"), "who decides (default $USER)")
	cmd.Flags().StringVar(&o.reason, "reason", "", "why, such as the provider's answer")
	return cmd
}

// ack builds the acknowledgement the flags describe.
func (o ackOptions) ack(cmd string) (ledger.Ack, error) {
	if o.merchant == "" {
		return ledger.Ack{}, usageError("%s: name the merchant account with --merchant", cmd)
	}
	a := ledger.Ack{Closed: o.closed, By: o.by, Reason: o.reason}
	if (o.batches == "") == !o.closed {
		return ledger.Ack{}, usageError("%s: pass --batch N (or N-M) for batches that will never come, or --closed for a closed account", cmd)
	}
	if o.batches != "" {
		lo, hi, isRange := strings.Cut(o.batches, "-")
		var err1, err2 error
		a.First, err1 = strconv.ParseInt(lo, 10, 64)
		a.Last, err2 = a.First, nil
		if isRange {
			a.Last, err2 = strconv.ParseInt(hi, 10, 64)
		}
		if err1 != nil || err2 != nil {
			return ledger.Ack{}, usageError("%s: --batch %q is not a batch number N or a range N-M", cmd, o.batches)
		}
	}
	return a, nil
}

func printAck(w io.Writer, provider, merchant string, a ledger.Ack, added bool) {
	what := "batch " + a.Numbers()
	if a.Closed {
		what = "closed"
	}
	if !added {
		fmt.Fprintf(w, "%s/%s %s was already acknowledged by %s.\n", provider, merchant, what, a.By)
		return
	}
	fmt.Fprintf(w, "Acknowledged %s/%s %s by %s: %s. No alert is sent about it from now on.\n", provider, merchant, what, a.By, a.Reason)
}

func newBatchesCheckCmd(a *app) *cobra.Command {
	var data, repairHost string
	var in intakeOptions
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run the hourly batch check once (the ledgers, and the table against its manifests): alerts and resolutions to notifications.jsonl",
		Long: `Check runs the scheduled batch check once. With --repair-host it also repairs gaps as a stack does: it
asks the report host for each batch a gap lacks (and a late account's next batch), downloads what is
there into the raw bucket and runs it; a 404 is asked again later, with a doubling wait, until the gap
counts as missing. REPAIR_GAPS_OFF lists the merchant accounts whose gaps only alert.`,
		Example: `  settle batches check
  BATCH_GRACE_HOURS=0 settle batches check --data /tmp/settle
  settle batches check --repair-host https://ca-test.adyen.com --report-user report-user.json`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if repairHost == "" {
				return runBatchesCheck(cmd.Context(), a, data)
			}
			return runBatchesRepair(cmd.Context(), a, data, repairHost, in)
		}),
	}
	cmd.Flags().StringVar(&data, "data", DefaultData, "data folder")
	cmd.Flags().StringVar(&repairHost, "repair-host", "", "repair gaps from this report host: https://ca-test.adyen.com, https://ca-live.adyen.com, or a loopback stand-in http://127.0.0.1:PORT")
	cmd.Flags().StringVar(&in.reportUser, "report-user", "", `the report user's credentials, a JSON file {"username", "password"} (default: none)`)
	return cmd
}

func runBatchesCheck(ctx context.Context, a *app, data string) error {
	env, err := openData(a, data, a.stderr, nil, local.OpenExisting)
	if err != nil {
		return err
	}
	res, err := env.CheckBatches(ctx)
	if err != nil {
		return err
	}
	printCheck(a, res, data)
	return nil
}

func printCheck(a *app, res *workflow.BatchCheckResult, data string) {
	fmt.Fprintf(a.stdout, "%d merchant accounts, %d missing batches, %d late, %d table findings (settle verify); sent %d alerts and %d resolutions to %s/notifications.jsonl.\n",
		res.Accounts, res.MissingBatches, res.Late, res.TableFindings, res.Alerts, res.Resolutions, data)
}

// runBatchesRepair runs the check with its gap repair through the local report intake.
func runBatchesRepair(ctx context.Context, a *app, data, host string, in intakeOptions) error {
	u, err := url.Parse(host)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return usageError("--repair-host %q: want a report host's address, such as https://ca-test.adyen.com", host)
	}
	switch u.Scheme {
	case "https":
		in.hosts = u.Host
	case "http": // a local stand-in: plain http to that loopback address and port only
		in.devServer = u.Host
	default:
		return usageError("--repair-host %q: want https://HOST, or http://127.0.0.1:PORT for a local stand-in", host)
	}
	repair, err := workflow.RepairFromEnv(a.getenv)
	if err != nil {
		return usageError("%v", err)
	}
	if repair == nil {
		return usageError("--repair-host with %s=off: nothing would be repaired", workflow.EnvRepairGaps)
	}
	in.data = data
	intake, env, err := in.intake(a, webhook.Secret{})
	if err != nil {
		return err
	}
	res, results, err := env.CheckBatchesRepairing(ctx, intake, strings.TrimSuffix(host, "/"), repair.Off)
	if err != nil {
		return err
	}
	printCheck(a, res, data)
	fmt.Fprintf(a.stdout, "Asked the report host for %s; announced %s.\n",
		plural(res.RepairsQueued, "missing batch", "missing batches"), plural(res.Repaired, "repaired batch", "repaired batches"))
	if len(results) == 0 {
		return nil
	}
	fmt.Fprintln(a.stdout)
	return printResults(a.stdout, localOperator(env, data), results, in)
}
