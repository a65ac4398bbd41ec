package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/obs"
)

// RepairsObject is the batch check's record of the batches it asked the report host for, in a merchant
// account's ledger folder.
const RepairsObject = "repairs.json"

// RepairsKey is the repair record of a merchant account.
func RepairsKey(provider, merchant string) string {
	return ledgerDir(provider, merchant) + RepairsObject
}

// Repair lets the batch check close gaps by itself: for a merchant account whose reports it may
// download, it queues a fetch of each batch a gap lacks, and of the next expected batch when the account
// is late, through the fetch function's queue (the report then goes through the pipeline like any
// other: same ETag rules, same conflict rules).
//
// A batch is asked for when first seen missing, then again after Window, 2×Window, 4×Window… (at most a
// day apart): an answer 404 means Adyen has not generated it yet. A gap's batches are asked for until
// the gap counts as missing (at least once, for a gap found already past its grace period); the missing
// alert then names what was tried. A late account's next batch is asked for with the same backoff. A
// committed batch is never asked for (it is in no gap). Each request is claimed in the repair record by
// a conditional write before it is queued, so that checks running at once queue it once; a check that
// dies between the claim and the send leaves the batch to the next attempt.
type Repair struct {
	// Queue is the fetch function's queue (SQS in AWS; the local intake's queue).
	Queue fetch.Sender
	// Host is the report host's address, https://ca-live.adyen.com or https://ca-test.adyen.com.
	Host string
	// Off lists the merchant accounts whose gaps are not repaired ("provider/account" or the account).
	Off []string
	// Window is the first wait before a batch is asked for again (0: DefaultRepairWindow).
	Window time.Duration
	// MaxPerCheck bounds the requests one check queues for one account (0: DefaultRepairsPerCheck).
	MaxPerCheck int
}

// DefaultRepairWindow is the first wait before a batch is asked for again; DefaultRepairsPerCheck the
// requests one check queues per account at most (a gap of a thousand batches is fetched over hours, not
// in one burst); maxRepairWait bounds the backoff.
const (
	DefaultRepairWindow    = time.Hour
	DefaultRepairsPerCheck = 20
	maxRepairWait          = 24 * time.Hour
)

// Repairs is the repair record of a merchant account: the batches asked for and not yet committed, and
// those committed since whose repair is being announced.
type Repairs struct {
	Version         int             `json:"version"`
	Provider        string          `json:"provider"`
	MerchantAccount string          `json:"merchant_account"`
	Batches         []RepairAttempt `json:"batches"`
}

// RepairAttempt is what the check asked for one batch.
type RepairAttempt struct {
	Batch    int64     `json:"batch"`
	First    time.Time `json:"first"` // the first request
	Last     time.Time `json:"last"`  // the latest request (claimed)
	Attempts int       `json:"attempts"`
	// Repaired is set once the batch is committed; the announcement is then claimed (Announced) and
	// the entry removed once it is sent.
	Repaired  bool      `json:"repaired,omitempty"`
	Announced time.Time `json:"announced,omitzero"`
}

// repairMessage is what a repair plan does: queue a request, or announce a repaired batch.
type repairMessage struct {
	Batch    int64
	Request  *fetch.Request
	Repaired *RepairAttempt
}

func (r *Repair) window() time.Duration {
	if r.Window > 0 {
		return r.Window
	}
	return DefaultRepairWindow
}

func (r *Repair) maxPerCheck() int {
	if r.MaxPerCheck > 0 {
		return r.MaxPerCheck
	}
	return DefaultRepairsPerCheck
}

// on says whether the account's gaps are repaired.
func (r *Repair) on(st ledger.Status) bool {
	return r != nil && r.Queue != nil && r.Host != "" && !slices.Contains(r.Off, st.MerchantAccount) && !slices.Contains(r.Off, st.Name())
}

// due is when a batch asked for attempts times, last at last, is asked for again.
func (r *Repair) due(a RepairAttempt) time.Time {
	wait := r.window()
	for i := 1; i < a.Attempts && wait < maxRepairWait; i++ {
		wait *= 2
	}
	return a.Last.Add(min(wait, maxRepairWait))
}

// wanted are the batches the account lacks that the check may ask for now, with whether each is past its
// gap's missing threshold (asked for once then, not retried).
func wanted(st ledger.Status) map[int64]bool {
	out := map[int64]bool{}
	for _, g := range st.Gaps {
		if g.Acknowledged != nil {
			continue
		}
		for b := g.First; b <= g.Last; b++ {
			out[b] = g.Missing
		}
	}
	if st.Late && st.Closed == nil && st.LastBatch > 0 {
		out[st.LastBatch+1] = false
	}
	return out
}

// plan decides, on the record cur, what this check queues and announces for the account.
func (r *Repair) plan(cur *Repairs, st ledger.Status, now time.Time) (*Repairs, []repairMessage) {
	next := &Repairs{Version: 1, Provider: st.Provider, MerchantAccount: st.MerchantAccount, Batches: []RepairAttempt{}}
	want := wanted(st)
	var msgs []repairMessage
	known := map[int64]bool{}
	for _, a := range cur.Batches {
		known[a.Batch] = true
		_, lacking := want[a.Batch]
		committed := !lacking && a.Batch <= st.LastBatch && !inGap(st, a.Batch)
		switch {
		case committed && (!a.Repaired || now.Sub(a.Announced) >= ResendAfterRepair):
			a.Repaired, a.Announced = true, now
			msgs = append(msgs, repairMessage{Batch: a.Batch, Repaired: &a})
		case !lacking && !committed:
			continue // acknowledged, or no longer expected: forget it
		}
		next.Batches = append(next.Batches, a)
	}
	sent := 0
	var numbers []int64
	for b := range want {
		numbers = append(numbers, b)
	}
	slices.Sort(numbers)
	for _, b := range numbers {
		if sent == r.maxPerCheck() {
			break
		}
		i := slices.IndexFunc(next.Batches, func(a RepairAttempt) bool { return a.Batch == b })
		var a RepairAttempt
		switch {
		case i < 0:
			a = RepairAttempt{Batch: b, First: now}
		case want[b] && known[b]: // missing already, and asked for: the alert speaks now
			continue
		case now.Before(r.due(next.Batches[i])):
			continue
		default:
			a = next.Batches[i]
		}
		req, err := fetch.BatchRequest(r.Host, st.MerchantAccount, b)
		if err != nil {
			continue // an account name no download URL can carry
		}
		req.Speculative = true
		a.Last, a.Attempts = now, a.Attempts+1
		if i < 0 {
			next.Batches = append(next.Batches, a)
		} else {
			next.Batches[i] = a
		}
		msgs = append(msgs, repairMessage{Batch: b, Request: &req})
		sent++
	}
	sort.Slice(next.Batches, func(i, j int) bool { return next.Batches[i].Batch < next.Batches[j].Batch })
	return next, msgs
}

// ResendAfterRepair is how long a claimed, unconfirmed repair announcement waits before it is sent again.
const ResendAfterRepair = ledger.ResendAfter

func inGap(st ledger.Status, b int64) bool {
	for _, g := range st.Gaps {
		if g.First <= b && b <= g.Last {
			return true
		}
	}
	return false
}

// confirmRepairs forgets the batches whose repair was announced.
func confirmRepairs(cur *Repairs, sent []repairMessage) *Repairs {
	next := *cur
	next.Batches = nil
	for _, a := range cur.Batches {
		done := slices.ContainsFunc(sent, func(m repairMessage) bool { return m.Repaired != nil && m.Batch == a.Batch })
		if !done {
			next.Batches = append(next.Batches, a)
		}
	}
	if next.Batches == nil {
		next.Batches = []RepairAttempt{}
	}
	return &next
}

// repair queues the account's fetches and announces its repaired batches; it returns the record as this
// check left it (what the missing alert names), and how many requests it queued.
func (c *BatchCheck) repair(ctx context.Context, log *slog.Logger, st ledger.Status, now time.Time) (*Repairs, int, int, error) {
	if !c.Repair.on(st) {
		return nil, 0, 0, nil
	}
	queued, announced := 0, 0
	key := RepairsKey(st.Provider, st.MerchantAccount)
	err := claimPublishConfirm(ctx, c.Processed, key,
		func() *Repairs {
			return &Repairs{Version: 1, Provider: st.Provider, MerchantAccount: st.MerchantAccount, Batches: []RepairAttempt{}}
		},
		func(cur *Repairs) (*Repairs, []repairMessage) { return c.Repair.plan(cur, st, now) },
		func(m repairMessage) error {
			if m.Request != nil {
				body, _ := json.Marshal(m.Request)
				if err := c.Repair.Queue.Send(ctx, body); err != nil {
					return fmt.Errorf("queue the fetch of batch %d of %s: %w", m.Batch, st.Name(), err)
				}
				queued++
				log.InfoContext(ctx, "missing batch asked for", obs.KeyMerchant, st.MerchantAccount, "batch", m.Batch, "key", m.Request.Key())
				return nil
			}
			subject, text := repairedMessage(st, *m.Repaired)
			if err := c.Publisher.Publish(ctx, subject, text); err != nil {
				return fmt.Errorf("publish the repair of batch %d of %s: %w", m.Batch, st.Name(), err)
			}
			announced++
			log.InfoContext(ctx, "missing batch repaired", obs.KeyMerchant, st.MerchantAccount, "batch", m.Batch, "attempts", m.Repaired.Attempts)
			return nil
		},
		confirmRepairs)
	if err != nil {
		return nil, queued, announced, err
	}
	rec, _, err := readLedgerObject(ctx, c.Processed, key, &Repairs{})
	return rec, queued, announced, err
}

func repairedMessage(st ledger.Status, a RepairAttempt) (subject, text string) {
	subject = fmt.Sprintf("settle: repaired: batch %d of %s fetched by the check", a.Batch, st.Name())
	if len(subject) > 100 {
		subject = subject[:99] + "…"
	}
	text = fmt.Sprintf("Settlement batch %d of merchant account %s was missing; the batch check asked the report host for it "+
		"(%d %s since %s) and it is committed: the gap was repaired without anyone. Nothing to do.",
		a.Batch, st.Name(), a.Attempts, plural(a.Attempts, "request", "requests"), a.First.UTC().Format(time.RFC3339))
	return subject, text
}

// repairNote is what a missing alert adds about the batches the check asked for in vain.
func repairNote(rec *Repairs, first, last int64) string {
	if rec == nil {
		return ""
	}
	var parts []string
	for _, a := range rec.Batches {
		if a.Batch < first || a.Batch > last || a.Repaired {
			continue
		}
		parts = append(parts, fmt.Sprintf("batch %d %d %s (first %s, last %s)", a.Batch, a.Attempts, plural(a.Attempts, "time", "times"),
			a.First.UTC().Format(time.RFC3339), a.Last.UTC().Format(time.RFC3339)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "\n\nThe batch check asked the report host for it by itself: " + strings.Join(parts, "; ") +
		"; it was not there (not generated yet, or never: a 404 is not kept as a failure)."
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Environment of the gap repair: REPAIR_GAPS (on, the default, or off) and REPAIR_GAPS_OFF (merchant
// accounts, comma-separated, whose gaps only alert).
const (
	EnvRepairGaps    = "REPAIR_GAPS"
	EnvRepairGapsOff = "REPAIR_GAPS_OFF"
)

// RepairFromEnv reads the gap repair's switches: nil when REPAIR_GAPS is off. The caller sets Queue and
// Host.
func RepairFromEnv(getenv func(string) string) (*Repair, error) {
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvRepairGaps))); v {
	case "", "on", "true":
	case "off", "false":
		return nil, nil
	default:
		return nil, fmt.Errorf("%s=%q: want on or off", EnvRepairGaps, v)
	}
	r := &Repair{}
	for _, a := range strings.Split(getenv(EnvRepairGapsOff), ",") {
		if a = strings.TrimSpace(a); a != "" {
			r.Off = append(r.Off, a)
		}
	}
	return r, nil
}
