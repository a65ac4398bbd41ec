package ledger

import (
	"fmt"
	"sort"
	"time"
)

// ResendAfter is how long a claimed message may stay unconfirmed before another check sends it again.
// It must be longer than the scheduled function can run (its timeout; a test holds the template to it),
// so that a check still publishing is never taken for a dead one.
const ResendAfter = 30 * time.Minute

// Alert states. An alert is claimed (Sending or Resolving) in the stored state before its message is
// published, and confirmed (Open, or removed once resolved) after; see Plan.
const (
	Sending   = "sending"
	Open      = "open"
	Resolving = "resolving"
)

// Message kinds.
const (
	KindMissing         = "missing"
	KindMissingResolved = "missing-resolved"
	KindLate            = "late"
	KindLateResolved    = "late-resolved"
)

// Alerts is the alert state of one merchant account: which gaps and which lateness have been (or are
// being) announced. Resolved alerts are removed once their resolution is confirmed sent: a committed
// batch is never missing again, an acknowledged one never alerts again, and lateness that comes back
// after a new batch is a new alert.
type Alerts struct {
	Version         int     `json:"version"`
	Provider        string  `json:"provider"`
	MerchantAccount string  `json:"merchant_account"`
	Missing         []Alert `json:"missing"`
	Late            *Alert  `json:"late,omitempty"`
}

// Alert is one announced finding: a run of missing batches (First..Last), or lateness.
type Alert struct {
	First int64 `json:"first,omitempty"`
	Last  int64 `json:"last,omitempty"`
	// NewestBatch is the account's newest batch when lateness was announced (late alerts only).
	NewestBatch int64  `json:"newest_batch,omitempty"`
	State       string `json:"state"`
	// Since is when the finding began: the gap's MissingAfter, or the newest batch's arrival.
	Since time.Time `json:"since"`
	// Claimed is when the current message (the alert, or its resolution) was claimed for publishing;
	// Attempts how often a message of this alert was claimed.
	Claimed  time.Time `json:"claimed"`
	Attempts int       `json:"attempts"`
}

// Message is an alert or a resolution to publish to the alert topic.
type Message struct {
	Kind        string    `json:"kind"`
	First       int64     `json:"first,omitempty"`
	Last        int64     `json:"last,omitempty"`
	NewestBatch int64     `json:"newest_batch,omitempty"`
	Claimed     time.Time `json:"claimed"`
	Subject     string    `json:"subject"`
	Text        string    `json:"text"`
}

// NewAlerts returns the empty alert state of a merchant account.
func NewAlerts(provider, merchant string) *Alerts {
	return &Alerts{Version: Version, Provider: provider, MerchantAccount: merchant, Missing: []Alert{}}
}

// span is a run of batch numbers.
type span struct{ first, last int64 }

// intersect returns the parts of s inside the sorted, disjoint spans set.
func intersect(s span, set []span) []span {
	var out []span
	for _, x := range set {
		if lo, hi := max(s.first, x.first), min(s.last, x.last); lo <= hi {
			out = append(out, span{lo, hi})
		}
	}
	return out
}

// subtract returns the parts of s outside the sorted, disjoint spans set.
func subtract(s span, set []span) []span {
	var out []span
	cur := s.first
	for _, x := range set {
		if x.last < cur || x.first > s.last {
			continue
		}
		if x.first > cur {
			out = append(out, span{cur, x.first - 1})
		}
		cur = x.last + 1
	}
	if cur <= s.last {
		out = append(out, span{cur, s.last})
	}
	return out
}

// Plan decides the alert state after a check that found st at now, and the messages to publish once
// that state is stored:
//
//   - a run of missing, unacknowledged batches that no alert covers gets an alert (one message per run);
//   - batches of an alert that are now committed get a resolution (one message per run); batches
//     acknowledged meanwhile leave the alert silently;
//   - lateness gets one alert, and one resolution when a batch arrives (silently gone when the account
//     is acknowledged closed);
//   - a message claimed ResendAfter ago or longer and never confirmed is claimed again and resent: the
//     check that claimed it died before publishing, or between publishing and confirming.
//
// Plan is deterministic; two checks that read the same state plan the same claims, and the conditional
// write of the state lets only one of them publish.
func Plan(cur *Alerts, st Status, now time.Time, resendAfter time.Duration) (*Alerts, []Message) {
	next := &Alerts{Version: Version, Provider: st.Provider, MerchantAccount: st.MerchantAccount, Missing: []Alert{}}
	var msgs []Message
	stale := func(a Alert) bool { return now.Sub(a.Claimed) >= resendAfter }
	claim := func(a Alert) Alert {
		a.Claimed = now
		a.Attempts++
		return a
	}

	var missing, open, gaps []span // unacknowledged missing; any gap still open; all gaps
	for _, g := range st.Gaps {
		s := span{g.First, g.Last}
		gaps = append(gaps, s)
		switch {
		case g.Acknowledged != nil:
		case g.Missing:
			missing = append(missing, s)
		default:
			open = append(open, s)
		}
	}
	for _, a := range cur.Missing {
		s := span{a.First, a.Last}
		if a.State == Resolving {
			if stale(a) {
				a = claim(a)
				msgs = append(msgs, resolvedMessage(st, a))
			}
			next.Missing = append(next.Missing, a)
			continue
		}
		keep := append(intersect(s, missing), intersect(s, open)...)
		sort.Slice(keep, func(i, j int) bool { return keep[i].first < keep[j].first })
		for _, part := range keep {
			b := a
			b.First, b.Last = part.first, part.last
			if b.State == Sending && stale(b) {
				b = claim(b)
				msgs = append(msgs, missingMessage(st, b))
			}
			next.Missing = append(next.Missing, b)
		}
		for _, part := range subtract(s, gaps) { // committed since
			b := a
			b.First, b.Last, b.State, b.Attempts = part.first, part.last, Resolving, 0
			b = claim(b)
			next.Missing = append(next.Missing, b)
			msgs = append(msgs, resolvedMessage(st, b))
		}
		// The rest of s is acknowledged: the alert ends without a message.
	}
	var covered []span
	for _, a := range next.Missing {
		covered = append(covered, span{a.First, a.Last})
	}
	sort.Slice(covered, func(i, j int) bool { return covered[i].first < covered[j].first })
	for _, m := range missing {
		for _, part := range subtract(m, covered) {
			a := claim(Alert{First: part.first, Last: part.last, State: Sending, Since: gapOf(st, part.first).MissingAfter})
			next.Missing = append(next.Missing, a)
			msgs = append(msgs, missingMessage(st, a))
		}
	}
	sort.Slice(next.Missing, func(i, j int) bool { return next.Missing[i].First < next.Missing[j].First })

	switch l := cur.Late; {
	case l == nil && st.Late:
		a := claim(Alert{NewestBatch: st.NewestBatch, State: Sending, Since: st.NewestArrived})
		next.Late = &a
		msgs = append(msgs, lateMessage(st, a))
	case l == nil:
	case l.State == Resolving:
		a := *l
		if stale(a) {
			a = claim(a)
			msgs = append(msgs, lateResolvedMessage(st, a))
		}
		next.Late = &a
	case st.Late:
		a := *l
		if a.State == Sending && stale(a) {
			a = claim(a)
			msgs = append(msgs, lateMessage(st, a))
		}
		next.Late = &a
	case st.Closed != nil: // acknowledged closed: the alert ends without a message
	default:
		a := *l
		a.State, a.Attempts = Resolving, 0
		a = claim(a)
		next.Late = &a
		msgs = append(msgs, lateResolvedMessage(st, a))
	}
	return next, msgs
}

// Confirm records that messages were published: their alerts become Open, their resolutions end the
// alert. Alerts claimed again since (another check took them over) are left as they are.
func Confirm(cur *Alerts, sent []Message) *Alerts {
	next := *cur
	next.Missing = make([]Alert, 0, len(cur.Missing))
	for _, a := range cur.Missing {
		keep := true
		for _, m := range sent {
			if !a.Claimed.Equal(m.Claimed) || a.First < m.First || a.Last > m.Last {
				continue
			}
			switch {
			case m.Kind == KindMissing && a.State == Sending:
				a.State = Open
			case m.Kind == KindMissingResolved && a.State == Resolving:
				keep = false
			}
		}
		if keep {
			next.Missing = append(next.Missing, a)
		}
	}
	if cur.Late != nil {
		a := *cur.Late
		next.Late = &a
		for _, m := range sent {
			if !a.Claimed.Equal(m.Claimed) {
				continue
			}
			switch {
			case m.Kind == KindLate && a.State == Sending:
				next.Late.State = Open
			case m.Kind == KindLateResolved && a.State == Resolving:
				next.Late = nil
			}
		}
	}
	return &next
}

// gapOf returns the gap holding a batch number.
func gapOf(st Status, n int64) Gap {
	for _, g := range st.Gaps {
		if g.First <= n && n <= g.Last {
			return g
		}
	}
	return Gap{}
}

func batchesText(first, last int64) string {
	if first == last {
		return fmt.Sprintf("batch %d", first)
	}
	return fmt.Sprintf("batches %d-%d", first, last)
}

// subject keeps an SNS subject within its 100 characters.
func subject(s string) string {
	if len(s) > 100 {
		return s[:97] + "..."
	}
	return s
}

func missingMessage(st Status, a Alert) Message {
	prov := ProviderTitle(st.Provider)
	g := gapOf(st, a.First)
	what := batchesText(a.First, a.Last)
	text := fmt.Sprintf("Settlement %s of merchant account %s is missing: a later batch arrived at %s and %s did not arrive within the grace period (it counts as missing since %s).\n\n"+
		"What to do: ask %s for %s of %s (Customer Area, Reports, Settlement details report). If it will never come (a number %s skipped), acknowledge it: %s --merchant %s --batch %s --by NAME --reason WHY.\n"+
		"A resolution message follows when it arrives.",
		what, st.Name(), g.MissingAfter.Add(-st.Grace).UTC().Format(time.RFC3339), what, a.Since.UTC().Format(time.RFC3339),
		prov, what, st.MerchantAccount, prov, st.AckCommand, st.MerchantAccount, rangeText(a.First, a.Last))
	return Message{Kind: KindMissing, First: a.First, Last: a.Last, Claimed: a.Claimed,
		Subject: subject(fmt.Sprintf("settle: %s of %s missing", what, st.Name())), Text: text}
}

func resolvedMessage(st Status, a Alert) Message {
	what := batchesText(a.First, a.Last)
	text := fmt.Sprintf("Settlement %s of merchant account %s has arrived and is committed: the gap announced since %s is closed.",
		what, st.Name(), a.Since.UTC().Format(time.RFC3339))
	return Message{Kind: KindMissingResolved, First: a.First, Last: a.Last, Claimed: a.Claimed,
		Subject: subject(fmt.Sprintf("settle: resolved: %s of %s arrived", what, st.Name())), Text: text}
}

func lateMessage(st Status, a Alert) Message {
	prov := ProviderTitle(st.Provider)
	text := fmt.Sprintf("Merchant account %s is late: its newest settlement batch, %d, arrived at %s (%s ago); it usually gets one every %s (%s) and the grace period is %s.\n\n"+
		"What to do: ask %s whether %s still settles and where its next report is. If the account is closed, acknowledge it: %s --merchant %s --closed --by NAME --reason WHY.\n"+
		"A resolution message follows when a batch arrives.",
		st.Name(), a.NewestBatch, a.Since.UTC().Format(time.RFC3339), Duration(st.Age), Duration(st.Cadence), st.CadenceFrom,
		Duration(st.Grace), prov, st.MerchantAccount, st.AckCommand, st.MerchantAccount)
	return Message{Kind: KindLate, NewestBatch: a.NewestBatch, Claimed: a.Claimed,
		Subject: subject(fmt.Sprintf("settle: %s late: no batch for %s", st.Name(), Duration(st.Age))), Text: text}
}

func lateResolvedMessage(st Status, a Alert) Message {
	text := fmt.Sprintf("Merchant account %s is no longer late: its newest settlement batch is %d, arrived at %s.",
		st.Name(), st.NewestBatch, st.NewestArrived.UTC().Format(time.RFC3339))
	return Message{Kind: KindLateResolved, NewestBatch: a.NewestBatch, Claimed: a.Claimed,
		Subject: subject(fmt.Sprintf("settle: resolved: %s is no longer late", st.Name())), Text: text}
}
