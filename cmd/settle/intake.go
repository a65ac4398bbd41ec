package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/paysettle/settle/internal/adyen"
	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/webhook"
)

const fetchUsage = `settle fetch downloads a report the way the fetch function does (allowed hosts only, basic auth,
retries, MAX_FILE_BYTES), into the local raw bucket under incoming/<merchant account>/<file name>, and runs it.

  settle fetch [--data DIR] [--json] [--report-user FILE] [--merchant M] [--hosts H,H] [--dev-server HOST:PORT] URL...

Example:
  settle fetch --report-user report-user.json https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv
`

const webhookUsage = `settle webhook tries Adyen's REPORT_AVAILABLE webhook locally, through the same receiver and
fetch handler as the deployed functions.

  settle webhook replay --secret FILE [--data DIR] [--json] [--report-user FILE] [--hosts H,H] [--dev-server HOST:PORT] BODY.json...
      post each saved notification body to the receiver with the secret's basic-auth credentials, then
      fetch every report it queued and run it
  settle webhook sign --secret FILE [--merchant M] [--live] [--date T] URL
      print a REPORT_AVAILABLE notification for the report at URL, signed with the secret's HMAC key

FILE is the webhook secret as stored in Secrets Manager: {"username", "password", "hmacKey"}. The
report user's file is {"username", "password"}. --dev-server allows plain http to a stand-in for
Adyen's report host on this machine (loopback only); never use it for real reports.

Example:
  settle webhook sign --secret testdata/webhook/secret.json http://127.0.0.1:8000/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv > notification.json
  settle webhook replay --secret testdata/webhook/secret.json --dev-server 127.0.0.1:8000 notification.json
`

// intakeFlags are the flags of the commands that download reports.
type intakeFlags struct {
	data, reportUser, hosts, devServer, pattern *string
	asJSON                                      *bool
}

func newIntakeFlags(fs *flag.FlagSet) intakeFlags {
	return intakeFlags{
		data:       fs.String("data", DefaultData, "data folder"),
		asJSON:     fs.Bool("json", false, "print one JSON object per report"),
		reportUser: fs.String("report-user", "", `the report user's credentials, a JSON file {"username", "password"} (default: none)`),
		hosts:      fs.String("hosts", os.Getenv("REPORT_HOSTS"), "allowed report hosts, comma-separated (default ca-test.adyen.com,ca-live.adyen.com)"),
		devServer:  fs.String("dev-server", "", "also allow plain http to this loopback HOST:PORT, a local stand-in for Adyen"),
		pattern:    fs.String("pattern", os.Getenv("REPORT_FILE_PATTERN"), "file-name pattern of the reports to fetch (default "+adyen.DefaultReportPattern+")"),
	}
}

// policy is the fetch policy the flags describe: the allowed hosts, and with --dev-server one loopback
// host over plain http.
func (f intakeFlags) policy() (fetch.Policy, error) {
	hosts, err := fetch.ParseHosts(*f.hosts)
	if err != nil {
		return fetch.Policy{}, usageError("--hosts: %v", err)
	}
	p := fetch.Policy{Hosts: hosts}
	if *f.devServer != "" {
		ap, err := netip.ParseAddrPort(*f.devServer)
		if err != nil || !ap.Addr().IsLoopback() {
			return fetch.Policy{}, usageError("--dev-server %q: want a loopback address and port such as 127.0.0.1:8000", *f.devServer)
		}
		p.Hosts = append(p.Hosts, ap.String())
		p.AllowHTTP = true
		dev := ap.Addr()
		p.AllowAddr = func(a netip.Addr) bool { return a == dev || fetch.PublicAddr(a) }
	}
	return p, nil
}

func (f intakeFlags) credentials() (fetch.Credentials, error) {
	if *f.reportUser == "" {
		return nil, nil
	}
	b, err := os.ReadFile(*f.reportUser)
	if err != nil {
		return nil, usageError("--report-user: %v", err)
	}
	user, pass, err := fetch.ParseCredentials(string(b))
	if err != nil {
		return nil, usageError("--report-user %s: %v", *f.reportUser, err)
	}
	return func(context.Context) (string, string, error) { return user, pass, nil }, nil
}

func (f intakeFlags) intake(stderr io.Writer, sec webhook.Secret) (*local.Intake, error) {
	pol, err := f.policy()
	if err != nil {
		return nil, err
	}
	if *f.pattern != "" {
		if err := adyen.CheckPattern(*f.pattern); err != nil {
			return nil, usageError("--pattern: %v", err)
		}
	}
	creds, err := f.credentials()
	if err != nil {
		return nil, err
	}
	env, err := openEnv(*f.data, stderr, false)
	if err != nil {
		return nil, err
	}
	return env.NewIntake(local.IntakeOptions{Secret: sec, Policy: pol, Pattern: *f.pattern, Credentials: creds, Metrics: newMetrics(stderr)}), nil
}

func cmdFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, fetchUsage) }
	f := newIntakeFlags(fs)
	merchant := fs.String("merchant", "", "merchant account (default: from the URL's …/MerchantAccount/<account>/…)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() == 0 {
		return usageError("fetch: name at least one report URL; see settle fetch -h")
	}
	var reqs []fetch.Request
	for _, u := range fs.Args() {
		r, err := fetch.RequestForURL(u, *merchant)
		if err != nil {
			return usageError("fetch: %v", err)
		}
		reqs = append(reqs, r)
	}
	in, err := f.intake(stderr, webhook.Secret{})
	if err != nil {
		return err
	}
	var results []local.FileResult
	for _, r := range reqs {
		results = append(results, in.Fetch(ctx, r))
	}
	return printResults(stdout, results, *f.asJSON, *f.data)
}

func cmdWebhook(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, webhookUsage)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	switch args[0] {
	case "replay":
		return webhookReplay(ctx, args[1:], stdout, stderr)
	case "sign":
		return webhookSign(args[1:], stdout, stderr)
	}
	return usageError("webhook: unknown command %q; use replay or sign", args[0])
}

func readSecret(path string) (webhook.Secret, error) {
	if path == "" {
		return webhook.Secret{}, usageError(`--secret: name the webhook secret's JSON file {"username", "password", "hmacKey"}`)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return webhook.Secret{}, usageError("--secret: %v", err)
	}
	s, err := webhook.ParseSecret(string(b))
	if err != nil {
		return webhook.Secret{}, usageError("--secret %s: %v", path, err)
	}
	return s, nil
}

func webhookReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("webhook replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, webhookUsage) }
	f := newIntakeFlags(fs)
	secretFile := fs.String("secret", "", "the webhook secret, a JSON file")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() == 0 {
		return usageError("webhook replay: name at least one saved notification body")
	}
	sec, err := readSecret(*secretFile)
	if err != nil {
		return err
	}
	in, err := f.intake(stderr, sec)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(sec.Username+":"+sec.Password)))
	var all []local.FileResult
	refused := 0
	for _, name := range fs.Args() {
		body, err := os.ReadFile(name)
		if err != nil {
			return usageError("webhook replay: %v", err)
		}
		resp, results, err := in.Receive(ctx, webhook.Request{Method: http.MethodPost, Header: h, Body: body})
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s: HTTP %d %s%s\n", name, resp.Status, resp.Body, describe(resp))
		if resp.Status != http.StatusOK {
			refused++
		}
		all = append(all, results...)
	}
	if len(all) > 0 {
		if err := printResults(stdout, all, *f.asJSON, *f.data); err != nil {
			return err
		}
	}
	if refused > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("the receiver refused %d of %d notifications", refused, fs.NArg())}
	}
	return nil
}

// describe summarizes what the receiver did with an accepted notification.
func describe(resp webhook.Response) string {
	if resp.Status != http.StatusOK {
		return ""
	}
	s := fmt.Sprintf(": %d report(s) queued", len(resp.Queued))
	var skips []string
	for k, n := range resp.Skipped {
		skips = append(skips, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(skips)
	if len(skips) > 0 {
		s += ", items skipped: " + strings.Join(skips, ", ")
	}
	return s
}

func webhookSign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("webhook sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, webhookUsage) }
	secretFile := fs.String("secret", "", "the webhook secret, a JSON file")
	merchant := fs.String("merchant", "", "merchant account (default: from the URL)")
	live := fs.Bool("live", false, `mark the notification live ("live": "true")`)
	date := fs.String("date", "", "eventDate, e.g. 2024-05-03T06:00:00+02:00")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() != 1 {
		return usageError("webhook sign: name the report's download URL")
	}
	sec, err := readSecret(*secretFile)
	if err != nil {
		return err
	}
	key, err := adyen.ParseKey(sec.HMACKey)
	if err != nil {
		return usageError("--secret %s: %v", *secretFile, err)
	}
	r, err := fetch.RequestForURL(fs.Arg(0), *merchant)
	if err != nil {
		return usageError("webhook sign: %v", err)
	}
	_, err = stdout.Write(webhook.ReportNotification(key, adyen.Report{MerchantAccount: r.MerchantAccount, FileName: r.FileName, URL: r.URL, EventDate: *date, Live: *live}))
	return err
}

// printResults prints the outcome of each report as `settle run` does.
func printResults(stdout io.Writer, results []local.FileResult, asJSON bool, data string) error {
	failed := 0
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "FILE\tSTATUS\tEXECUTION\tWRITTEN\tREJECTED\tPARTITIONS\tERROR")
	}
	for _, r := range results {
		if r.Status == local.Failed {
			failed++
		}
		if asJSON {
			if r.Partitions == nil {
				r.Partitions = []string{}
			}
			b, _ := json.Marshal(r)
			fmt.Fprintln(stdout, string(b))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.File, r.Status, orDash(r.Execution), r.RowsWritten, r.RowsRejected,
			orDash(strings.Join(r.Partitions, ",")), orDash(r.Error))
	}
	tw.Flush()
	if !asJSON {
		fmt.Fprintf(stdout, "\nReports in %s/raw/incoming, output in %s/processed, failed downloads in %s/%s.\n", data, data, data, local.FetchDLQDir)
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d reports failed", failed, len(results))}
	}
	return nil
}
