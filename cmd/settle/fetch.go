package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/adyen"
	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/webhook"
)

// intakeOptions are the flags of the commands that download reports (fetch, webhook replay).
type intakeOptions struct {
	data, reportUser, hosts, devServer, pattern string
	json                                        bool
}

func (o *intakeOptions) flags(a *app, cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.data, "data", DefaultData, "data folder (made when missing)")
	f.BoolVar(&o.json, "json", false, "print one JSON object per report (with --batches or --missing, the summary as one object)")
	f.StringVar(&o.reportUser, "report-user", "", `the report user's credentials, a JSON file {"username", "password"} (default: none)`)
	f.StringVar(&o.hosts, "hosts", a.getenv("REPORT_HOSTS"), "allowed report hosts, comma-separated (default ca-test.adyen.com,ca-live.adyen.com)")
	f.StringVar(&o.devServer, "dev-server", "", "also allow this loopback ADDRESS:PORT, a local stand-in for Adyen, over plain http (nothing else is fetched over plain http)")
	f.StringVar(&o.pattern, "pattern", a.getenv("REPORT_FILE_PATTERN"), "file-name pattern of the reports to fetch (default "+adyen.DefaultReportPattern+")")
}

// policy is the fetch policy the flags describe: the allowed hosts (https only), and with --dev-server
// one loopback address and port, the only one plain http may go to.
func (o *intakeOptions) policy() (fetch.Policy, error) {
	hosts, err := fetch.ParseHosts(o.hosts)
	if err != nil {
		return fetch.Policy{}, usageError("--hosts: %v", err)
	}
	p := fetch.Policy{Hosts: hosts}
	if o.devServer != "" {
		ap, err := netip.ParseAddrPort(o.devServer)
		if err != nil || !ap.Addr().Unmap().IsLoopback() || ap.Port() == 0 || ap.Addr().Zone() != "" {
			return fetch.Policy{}, usageError("--dev-server %q: want a loopback address and port such as 127.0.0.1:8000", o.devServer)
		}
		p.DevServer = ap
	}
	return p, nil
}

func (o *intakeOptions) credentials() (fetch.Credentials, error) {
	if o.reportUser == "" {
		return nil, nil
	}
	b, err := os.ReadFile(o.reportUser)
	if err != nil {
		return nil, usageError("--report-user: %v", err)
	}
	user, pass, err := fetch.ParseCredentials(string(b))
	if err != nil {
		return nil, usageError("--report-user %s: %v", o.reportUser, err)
	}
	return func(context.Context) (string, string, error) { return user, pass, nil }, nil
}

func (o *intakeOptions) intake(a *app, sec webhook.Secret) (*local.Intake, *local.Env, error) {
	pol, err := o.policy()
	if err != nil {
		return nil, nil, err
	}
	if o.pattern != "" {
		if err := adyen.CheckPattern(o.pattern); err != nil {
			return nil, nil, usageError("--pattern: %v", err)
		}
	}
	creds, err := o.credentials()
	if err != nil {
		return nil, nil, err
	}
	env, err := openData(a, o.data, a.stderr, nil, local.Open)
	if err != nil {
		return nil, nil, err
	}
	return env.NewIntake(local.IntakeOptions{Secret: sec, Policy: pol, Pattern: o.pattern, Credentials: creds, Metrics: newMetrics(a, a.stderr)}), env, nil
}

func newFetchCmd(a *app) *cobra.Command {
	var o intakeOptions
	var b backfillOptions
	cmd := &cobra.Command{
		Use:   "fetch URL... | --merchant M --batches LIST|--missing",
		Short: "Download Adyen reports into the local raw bucket and run them",
		Long: `Fetch downloads a report the way the fetch function does (allowed hosts only, basic auth, retries,
MAX_FILE_BYTES), into the local raw bucket under incoming/<merchant account>/<file name>, and runs it.

With --merchant M and --batches LIST (such as 1-500 or 3,7,10-12) it backfills the account's
settlement details reports by batch number instead of URLs: each report's URL follows from the report
host (--host; with --dev-server, the dev server), the account and the number. --missing asks for the
batches the account's ledger lists as missing. Batches the ledger shows committed are skipped; the
others are downloaded and run a few at once (--concurrency), a line on stderr as each ends, then a
summary: fetched, already there, not found, failed (with why). Interrupted (Ctrl-C), it stops; run it
again to finish: what is committed is skipped.`,
		Example: `  settle fetch --report-user report-user.json https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv
  settle fetch --report-user report-user.json --merchant AcmeShopNL --batches 1-500
  settle fetch --merchant AcmeShopNL --missing --dev-server 127.0.0.1:8000`,
		Args: func(cmd *cobra.Command, args []string) error {
			if b.batchMode() {
				if len(args) > 0 {
					return usageError("%s: pass report URLs, or --batches or --missing, not both (see %s --help)", cmd.CommandPath(), cmd.CommandPath())
				}
				return nil
			}
			return minArgs(1, "name at least one report URL, or pass --merchant M with --batches LIST or --missing")(cmd, args)
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if b.batchMode() {
				return fetchBatches(cmd.Context(), a, o, b)
			}
			for _, f := range []string{"concurrency", "dry-run", "host"} {
				if cmd.Flags().Changed(f) {
					return usageError("settle fetch: --%s goes with --batches or --missing", f)
				}
			}
			var reqs []fetch.Request
			for _, u := range args {
				r, err := fetch.RequestForURL(u, b.merchant)
				if err != nil {
					return usageError("fetch: %v", err)
				}
				reqs = append(reqs, r)
			}
			in, env, err := o.intake(a, webhook.Secret{})
			if err != nil {
				return err
			}
			var results []local.FileResult
			for _, r := range reqs {
				results = append(results, in.Fetch(cmd.Context(), r))
			}
			return printResults(a.stdout, localOperator(env, o.data), results, o)
		}),
	}
	o.flags(a, cmd)
	cmd.Flags().StringVar(&b.merchant, "merchant", "", "merchant account: with URLs, it must be the URL's …/MerchantAccount/<account>/… (default: the URL's); with --batches or --missing, the account to backfill")
	b.flags(cmd, "the report host's address for --batches and --missing (default "+defaultReportHost+"; with --dev-server, http:// and its address)")
	return cmd
}

// fetchBatches is settle fetch --merchant M --batches LIST|--missing: a backfill on the data folder,
// each batch downloaded and run by the local intake.
func fetchBatches(ctx context.Context, a *app, o intakeOptions, b backfillOptions) error {
	b.json = o.json
	base := b.host
	switch {
	case base != "":
	case o.devServer != "":
		base = "http://" + o.devServer
	default:
		base = defaultReportHost
	}
	spec, err := b.spec("settle fetch", base)
	if err != nil {
		return err
	}
	in, env, err := o.intake(a, webhook.Secret{})
	if err != nil {
		return err
	}
	op := localOperator(env, o.data)
	next := []string{fmt.Sprintf("Reports in %s/raw/incoming, output in %s/processed, failed downloads in %s/%s; %s shows the ledger.",
		o.data, o.data, o.data, local.FetchDLQDir, op.command("batches --merchant "+b.merchant))}
	return backfill(ctx, a, op, in, spec, b, next)
}

// printResults prints the outcome of each report as settle run does.
func printResults(w io.Writer, op operator, results []local.FileResult, o intakeOptions) error {
	failedN := 0
	names := make([]string, len(results))
	for i, r := range results {
		names[i] = displayName(op, r)
	}
	s := newSummary(w, op, names)
	for _, r := range results {
		if r.Failed() {
			failedN++
		}
		if o.json {
			if err := printJSON(w, fileJSON(op, r)); err != nil {
				return err
			}
			continue
		}
		s.add(r)
	}
	if !o.json {
		s.end()
		fmt.Fprintf(w, "\nReports in %s/raw/incoming, output in %s/processed, failed downloads in %s/%s.\n", o.data, o.data, o.data, local.FetchDLQDir)
	}
	if failedN > 0 {
		return failed("%d of %d reports failed", failedN, len(results))
	}
	return nil
}
