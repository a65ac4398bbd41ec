package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/store"
)

// Publisher sends a message to the alert topic (SNS in AWS, notifications.jsonl locally).
type Publisher interface {
	Publish(ctx context.Context, subject, message string) error
}

// BatchCheck is the handler of the scheduled batches function: it reads every merchant account's ledger,
// reports MissingBatches and HoursSinceLastBatch, and publishes each new gap or lateness once, and its
// resolution once.
//
// Sending each message once, even when the schedule fires twice at the same moment: for each account the
// check plans its messages as claims in the alert state (ledger.Plan) and writes that state
// conditionally on the version it read, before publishing anything. Of two checks only one write
// succeeds; the other reads the state again, finds the claims and publishes nothing. After publishing,
// the winner confirms its claims (another conditional write).
//
// If the function dies between claiming and confirming, the claim stays: a check ResendAfter later
// claims it again and publishes again. Delivery is therefore at least once, with a duplicate only when
// the function died after SNS accepted the message and before its confirmation was stored (a window of
// one S3 write); the alternative, at most once, would lose an alert for good in the same window, and a
// lost alert is the very failure this check exists to prevent.
type BatchCheck struct {
	Processed store.Bucket
	Publisher Publisher
	Policy    ledger.Policy
	Log       *slog.Logger
	Metrics   *obs.Metrics
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// ResendAfter is how long an unconfirmed claim waits before it is sent again (0: ledger.ResendAfter).
	ResendAfter time.Duration
	// Repair, when set, queues fetches of the batches gaps lack (see Repair); nil: gaps only alert.
	Repair *Repair
	// Table, when set, is the Iceberg table of record, which the table check compares with the
	// manifests too.
	Table TableReader
}

// BatchCheckInput is the scheduled event: EventBridge Scheduler fills the fields from its context
// attributes (template.yaml); they are logged, and the check itself reads no input.
type BatchCheckInput struct {
	ScheduledTime string `json:"scheduledTime,omitempty"`
	ExecutionID   string `json:"executionId,omitempty"`
	Attempt       string `json:"attempt,omitempty"`
}

// BatchCheckResult is what one check found and sent.
type BatchCheckResult struct {
	Accounts       int   `json:"accounts"`
	MissingBatches int64 `json:"missingBatches"`
	Late           int   `json:"late"`
	Alerts         int   `json:"alerts"`      // alert messages published
	Resolutions    int   `json:"resolutions"` // resolution messages published
	// RepairsQueued counts the fetches queued for batches gaps lack, Repaired the batches asked for
	// and committed since (each announced once).
	RepairsQueued int `json:"repairsQueued,omitempty"`
	Repaired      int `json:"repaired,omitempty"`
	// TableFindings is how many inconsistencies the table's check found (see Verifier).
	TableFindings int `json:"tableFindings"`
}

func (c *BatchCheck) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

func (c *BatchCheck) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// Handle runs one check. An account whose ledger or alert state cannot be read or written is skipped
// and reported in the error after the others are checked (the scheduler retries the invocation; the
// accounts already handled have nothing left to send).
func (c *BatchCheck) Handle(ctx context.Context, in BatchCheckInput) (*BatchCheckResult, error) {
	now := c.now()
	log := c.log().With(obs.KeyStep, "batches", obs.KeyBucket, c.Processed.Name())
	log.InfoContext(ctx, "batch check", "scheduled_time", in.ScheduledTime, "scheduler_execution", in.ExecutionID, "attempt", in.Attempt)
	accounts, err := LoadAccounts(ctx, c.Processed, "")
	if err != nil {
		return nil, err
	}
	res := &BatchCheckResult{Accounts: len(accounts)}
	var maxHours float64
	var failed []error
	for _, a := range accounts {
		st := ledger.Analyze(a.Ledger, a.Acks, c.Policy, now)
		res.MissingBatches += st.MissingBatches
		if st.Late {
			res.Late++
		}
		maxHours = max(maxHours, st.Age.Hours())
		c.Metrics.Entry().Dimensions([]string{obs.DimProvider, obs.DimMerchantAccount}).
			Dimension(obs.DimProvider, st.Provider).Dimension(obs.DimMerchantAccount, st.MerchantAccount).
			Put(obs.MissingBatches, float64(st.MissingBatches), obs.Count).
			Put(obs.HoursSinceLastBatch, st.Age.Hours(), obs.None).
			Property("late", st.Late).Property("pending_batches", st.PendingBatches).Emit(ctx)
		rec, queued, repaired, err := c.repair(ctx, log, st, now)
		res.RepairsQueued += queued
		res.Repaired += repaired
		if err != nil {
			log.ErrorContext(ctx, "gap repair not completed", obs.KeyMerchant, st.MerchantAccount, "error", err)
			failed = append(failed, err)
		}
		alerts, resolutions, err := c.announce(ctx, log, st, now, rec)
		res.Alerts += alerts
		res.Resolutions += resolutions
		if err != nil {
			log.ErrorContext(ctx, "batch alerts not sent", obs.KeyMerchant, st.MerchantAccount, "error", err)
			failed = append(failed, err)
		}
	}
	// The table against its manifests: each finding alerted once, and its resolution once.
	findings, alerts, resolutions, err := c.checkTable(ctx, log, now)
	res.TableFindings = findings
	res.Alerts += alerts
	res.Resolutions += resolutions
	if err != nil {
		log.ErrorContext(ctx, "table check not completed", "error", err)
		failed = append(failed, err)
	} else {
		c.Metrics.Entry().Put(obs.TableFindings, float64(findings), obs.Count).Emit(ctx)
	}
	// The aggregate the alarm watches: no merchant dimension, one value per check.
	c.Metrics.Entry().Put(obs.MissingBatches, float64(res.MissingBatches), obs.Count).
		Put(obs.HoursSinceLastBatch, maxHours, obs.None).Property("accounts", res.Accounts).Emit(ctx)
	if c.Repair != nil {
		c.Metrics.Entry().Put(obs.RepairsQueued, float64(res.RepairsQueued), obs.Count).Put(obs.BatchesRepaired, float64(res.Repaired), obs.Count).Emit(ctx)
	}
	log.InfoContext(ctx, "batch check done", "accounts", res.Accounts, "missing_batches", res.MissingBatches, "late", res.Late,
		"table_findings", res.TableFindings, "alerts", res.Alerts, "resolutions", res.Resolutions, "repairs_queued", res.RepairsQueued, "repaired", res.Repaired)
	if len(failed) > 0 {
		return res, &TransientError{Op: "batch check", Err: fmt.Sprintf("%d of %d accounts not checked: %v", len(failed), len(accounts), errors.Join(failed...))}
	}
	return res, nil
}

// announce claims, publishes and confirms an account's messages; it returns how many alerts and
// resolutions it published.
func (c *BatchCheck) announce(ctx context.Context, log *slog.Logger, st ledger.Status, now time.Time, repairs *Repairs) (int, int, error) {
	alerts, resolutions := 0, 0
	err := claimPublishConfirm(ctx, c.Processed, AlertsKey(st.Provider, st.MerchantAccount),
		func() *ledger.Alerts { return ledger.NewAlerts(st.Provider, st.MerchantAccount) },
		func(cur *ledger.Alerts) (*ledger.Alerts, []ledger.Message) {
			return ledger.Plan(cur, st, now, c.resendAfter())
		},
		func(m ledger.Message) error {
			text := m.Text
			if m.Kind == ledger.KindMissing {
				text += repairNote(repairs, m.First, m.Last)
			}
			if err := c.Publisher.Publish(ctx, m.Subject, text); err != nil {
				return fmt.Errorf("publish %s of %s: %w", m.Kind, st.Name(), err)
			}
			if m.Kind == ledger.KindMissing || m.Kind == ledger.KindLate {
				alerts++
			} else {
				resolutions++
			}
			log.InfoContext(ctx, "batch alert published", obs.KeyMerchant, st.MerchantAccount, "kind", m.Kind, "first", m.First, "last", m.Last)
			return nil
		},
		ledger.Confirm)
	return alerts, resolutions, err
}

func (c *BatchCheck) resendAfter() time.Duration {
	if c.ResendAfter > 0 {
		return c.ResendAfter
	}
	return ledger.ResendAfter
}

// claimPublishConfirm sends each message an alert state calls for exactly once, even when checks run at
// the same moment: it plans the messages as claims in the state object under key and writes it
// conditionally on the version read (a lost race plans again on the winner's version), publishes what
// it claimed, stopping at the first failure (the rest stays claimed and is sent again after
// ResendAfter), and confirms what it sent with another conditional write. newState is the state when
// there is none yet.
func claimPublishConfirm[S any, M any](ctx context.Context, b store.Bucket, key string, newState func() *S,
	plan func(*S) (*S, []M), publish func(M) error, confirm func(*S, []M) *S) error {
	var msgs []M
	claimed := false
	for range maxLedgerRaces {
		cur, etag, err := readLedgerObject(ctx, b, key, newState())
		if err != nil {
			return err
		}
		next, planned := plan(cur)
		if sameJSON(cur, next) {
			return nil
		}
		err = putLedgerObject(ctx, b, key, next, etag)
		if errors.Is(err, store.ErrPreconditionFailed) {
			continue // another check changed the state: plan again on its version
		}
		if err != nil {
			return err
		}
		msgs, claimed = planned, true
		break
	}
	if !claimed {
		return &TransientError{Op: "update " + key, Err: "other checks kept changing the alert state"}
	}
	var sent []M
	var pubErr error
	for _, m := range msgs {
		if pubErr = publish(m); pubErr != nil {
			break
		}
		sent = append(sent, m)
	}
	if len(sent) == 0 {
		return pubErr
	}
	for range maxLedgerRaces {
		cur, etag, err := readLedgerObject(ctx, b, key, newState())
		if err != nil {
			return err
		}
		next := confirm(cur, sent)
		if sameJSON(cur, next) {
			return pubErr
		}
		err = putLedgerObject(ctx, b, key, next, etag)
		if errors.Is(err, store.ErrPreconditionFailed) {
			continue
		}
		if err != nil {
			return err
		}
		return pubErr
	}
	return &TransientError{Op: "confirm " + key, Err: "other checks kept changing the alert state"}
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
