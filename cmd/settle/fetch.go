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
	f.BoolVar(&o.json, "json", false, "print one JSON object per report")
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
	var merchant string
	cmd := &cobra.Command{
		Use:   "fetch URL...",
		Short: "Download Adyen reports into the local raw bucket and run them",
		Long: `Fetch downloads a report the way the fetch function does (allowed hosts only, basic auth, retries,
MAX_FILE_BYTES), into the local raw bucket under incoming/<merchant account>/<file name>, and runs it.`,
		Example: `  settle fetch --report-user report-user.json https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv`,
		Args:    minArgs(1, "name at least one report URL"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			var reqs []fetch.Request
			for _, u := range args {
				r, err := fetch.RequestForURL(u, merchant)
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
	cmd.Flags().StringVar(&merchant, "merchant", "", "merchant account, which must be the URL's …/MerchantAccount/<account>/… (default: the URL's)")
	return cmd
}

// printResults prints the outcome of each report as settle run does.
func printResults(w io.Writer, op operator, results []local.FileResult, o intakeOptions) error {
	failedN := 0
	names := make([]string, len(results))
	for i, r := range results {
		names[i] = r.File
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
