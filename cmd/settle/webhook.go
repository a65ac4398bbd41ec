package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/adyen"
	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/webhook"
)

const webhookLong = `Webhook tries Adyen's REPORT_AVAILABLE webhook locally, through the same receiver and fetch handler
as the deployed functions.

The secret file is the webhook secret as stored in Secrets Manager: {"username", "password", "hmacKey"}.
The report user's file is {"username", "password"}. --dev-server ADDRESS:PORT allows a stand-in for
Adyen's report host on this machine (loopback only) over plain http: that address and port only, every
other host stays https-only. Never use it for real reports.`

func newWebhookCmd(a *app) *cobra.Command {
	cmd := parent(&cobra.Command{
		Use:   "webhook",
		Short: "Sign and replay Adyen REPORT_AVAILABLE notifications through the local receiver",
		Long:  webhookLong,
		Example: `  settle webhook sign --secret testdata/webhook/secret.json http://127.0.0.1:8000/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv > notification.json
  settle webhook replay --secret testdata/webhook/secret.json --dev-server 127.0.0.1:8000 notification.json`,
	})
	cmd.AddCommand(newWebhookReplayCmd(a), newWebhookSignCmd(a))
	return cmd
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

func newWebhookReplayCmd(a *app) *cobra.Command {
	var o intakeOptions
	var secretFile string
	cmd := &cobra.Command{
		Use:     "replay --secret FILE BODY.json...",
		Short:   "Post saved notification bodies to the receiver, then fetch and run the reports it queued",
		Long:    webhookLong,
		Example: `  settle webhook replay --secret testdata/webhook/secret.json --dev-server 127.0.0.1:8000 notification.json`,
		Args:    minArgs(1, "name at least one saved notification body"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			sec, err := readSecret(secretFile)
			if err != nil {
				return err
			}
			in, env, err := o.intake(a, sec)
			if err != nil {
				return err
			}
			h := http.Header{}
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(sec.Username+":"+sec.Password)))
			var all []local.FileResult
			refused := 0
			for _, name := range args {
				body, err := os.ReadFile(name)
				if err != nil {
					return usageError("webhook replay: %v", err)
				}
				resp, results, err := in.Receive(cmd.Context(), webhook.Request{Method: http.MethodPost, Header: h, Body: body})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "%s: HTTP %d %s%s\n", name, resp.Status, resp.Body, describe(resp))
				if resp.Status != http.StatusOK {
					refused++
				}
				all = append(all, results...)
			}
			if len(all) > 0 {
				if err := printResults(a.stdout, localOperator(env, o.data), all, o); err != nil {
					return err
				}
			}
			if refused > 0 {
				return failed("the receiver refused %d of %d notifications", refused, len(args))
			}
			return nil
		}),
	}
	o.flags(a, cmd)
	cmd.Flags().StringVar(&secretFile, "secret", "", "the webhook secret, a JSON file")
	return cmd
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

func newWebhookSignCmd(a *app) *cobra.Command {
	var secretFile, merchant, date string
	var live bool
	cmd := &cobra.Command{
		Use:     "sign --secret FILE URL",
		Short:   "Print a REPORT_AVAILABLE notification for the report at URL, signed with the secret's HMAC key",
		Long:    webhookLong,
		Example: `  settle webhook sign --secret testdata/webhook/secret.json http://127.0.0.1:8000/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv > notification.json`,
		Args:    exactArgs(1, "name the report's download URL"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			sec, err := readSecret(secretFile)
			if err != nil {
				return err
			}
			key, err := adyen.ParseKey(sec.HMACKey)
			if err != nil {
				return usageError("--secret %s: %v", secretFile, err)
			}
			r, err := fetch.RequestForURL(args[0], merchant)
			if err != nil {
				return usageError("webhook sign: %v", err)
			}
			_, err = a.stdout.Write(webhook.ReportNotification(key, adyen.Report{MerchantAccount: r.MerchantAccount, FileName: r.FileName, URL: r.URL, EventDate: date, Live: live}))
			return err
		}),
	}
	cmd.Flags().StringVar(&secretFile, "secret", "", "the webhook secret, a JSON file")
	cmd.Flags().StringVar(&merchant, "merchant", "", "merchant account, which must be the URL's (default: the URL's)")
	cmd.Flags().BoolVar(&live, "live", false, `mark the notification live ("live": "true")`)
	cmd.Flags().StringVar(&date, "date", "", "eventDate, e.g. 2024-05-03T06:00:00+02:00")
	return cmd
}
