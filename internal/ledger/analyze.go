package ledger

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// DefaultGrace is how long a gap may stay open before its batches count as missing, and how much longer
// than its cadence a merchant account may stay without a batch before it counts as late.
const DefaultGrace = 48 * time.Hour

// CadenceWindow is how many of a merchant account's most recent batches its cadence is learned from.
const CadenceWindow = 20

// minIntervals is how many arrival intervals a learned cadence needs: with fewer there is no pattern yet,
// and an account is never late on a learned cadence.
const minIntervals = 2

// DefaultAckCommand is the command the advice names for acknowledgements.
const DefaultAckCommand = "settle batches ack"

// Policy says when a gap is missing and when an account is late.
type Policy struct {
	// Grace is how long after the arrival of a later batch a gap counts as missing, and how long past
	// its cadence an account counts as late (0: DefaultGrace).
	Grace time.Duration
	// Cadences are configured cadences by merchant account; an account without one learns its cadence
	// from its history.
	Cadences map[string]time.Duration
	// AckCommand is the acknowledgement command the advice names (empty: DefaultAckCommand).
	AckCommand string
}

// GraceOrDefault is the policy's grace period.
func (p Policy) GraceOrDefault() time.Duration {
	if p.Grace <= 0 {
		return DefaultGrace
	}
	return p.Grace
}

func (p Policy) ackCommand() string {
	if p.AckCommand == "" {
		return DefaultAckCommand
	}
	return p.AckCommand
}

// Gap is a run of batch numbers that are not committed although a later batch of the account is.
type Gap struct {
	First int64 `json:"first"`
	Last  int64 `json:"last"`
	// MissingAfter is when the gap counts as missing: the earliest arrival among the account's later
	// batches, plus the grace period.
	MissingAfter time.Time `json:"missing_after"`
	// Missing: MissingAfter has passed.
	Missing bool `json:"missing"`
	// Acknowledged is the acknowledgement that covers the gap (the batches will never come), if any.
	Acknowledged *Ack `json:"acknowledged,omitempty"`
}

// Count is the number of batches in the gap.
func (g Gap) Count() int64 { return g.Last - g.First + 1 }

// Numbers writes the gap's batch numbers as "7" or "7-9".
func (g Gap) Numbers() string { return rangeText(g.First, g.Last) }

func rangeText(first, last int64) string {
	if first == last {
		return fmt.Sprint(first)
	}
	return fmt.Sprintf("%d-%d", first, last)
}

// Cadence sources.
const (
	CadenceConfigured = "configured"
	CadenceLearned    = "learned"
)

// Status is what the ledger says about one merchant account at a moment.
type Status struct {
	Provider        string `json:"provider"`
	MerchantAccount string `json:"merchant_account"`
	Batches         int    `json:"batches"`
	// LastBatch is the highest batch number committed.
	LastBatch int64 `json:"last_batch"`
	// Newest is the batch that arrived last, and Age how long ago.
	NewestBatch   int64         `json:"newest_batch"`
	NewestArrived time.Time     `json:"newest_arrived"`
	Age           time.Duration `json:"-"`
	AgeHours      float64       `json:"age_hours"`
	// Cadence is the expected interval between batches (0: not known yet), CadenceFrom where it comes from.
	Cadence      time.Duration `json:"-"`
	CadenceHours float64       `json:"cadence_hours,omitempty"`
	CadenceFrom  string        `json:"cadence_from,omitempty"`
	// Grace is the policy's grace period, AckCommand the acknowledgement command the advice names.
	Grace      time.Duration `json:"-"`
	GraceHours float64       `json:"grace_hours"`
	AckCommand string        `json:"-"`
	// LateAfter is when the account counts as late without a new batch (zero without a cadence).
	LateAfter time.Time `json:"late_after,omitzero"`
	Late      bool      `json:"late"`
	// Closed is the acknowledgement that the account receives no more batches (lateness is not reported
	// until a batch arrives after it).
	Closed *Ack  `json:"closed,omitempty"`
	Gaps   []Gap `json:"gaps"`
	// MissingBatches counts the batches of unacknowledged gaps past their grace period; PendingBatches
	// those of gaps still within it.
	MissingBatches int64 `json:"missing_batches"`
	PendingBatches int64 `json:"pending_batches"`
	// Advice says what to do about each finding, as sentences for a person.
	Advice []string `json:"advice"`
}

// Name is "provider/merchant account".
func (s Status) Name() string { return s.Provider + "/" + s.MerchantAccount }

// Analyze reads a ledger at now: its gaps (split by acknowledgements), which of them are missing, the
// account's cadence and whether it is late.
func Analyze(l *Ledger, acks *Acks, p Policy, now time.Time) Status {
	grace := p.GraceOrDefault()
	st := Status{Provider: l.Provider, MerchantAccount: l.MerchantAccount, Batches: len(l.Batches), Gaps: []Gap{}, Advice: []string{},
		Grace: grace, GraceHours: hours(grace), AckCommand: p.ackCommand()}
	if len(l.Batches) == 0 {
		return st
	}
	var ackList []Ack
	if acks != nil {
		ackList = acks.Acks
	}
	bs := l.Batches
	st.LastBatch = bs[len(bs)-1].Number

	// The earliest arrival among the batches after each position: a gap's grace runs from the first
	// moment a later batch was there.
	laterArrival := make([]time.Time, len(bs))
	for i := len(bs) - 1; i >= 0; i-- {
		laterArrival[i] = bs[i].Arrived
		if i+1 < len(bs) && laterArrival[i+1].Before(laterArrival[i]) {
			laterArrival[i] = laterArrival[i+1]
		}
	}
	for i := 0; i+1 < len(bs); i++ {
		if bs[i+1].Number <= bs[i].Number+1 {
			continue
		}
		due := laterArrival[i+1].Add(grace)
		for _, g := range splitByAcks(bs[i].Number+1, bs[i+1].Number-1, ackList) {
			g.MissingAfter, g.Missing = due, !now.Before(due)
			st.Gaps = append(st.Gaps, g)
			switch {
			case g.Acknowledged != nil:
			case g.Missing:
				st.MissingBatches += g.Count()
			default:
				st.PendingBatches += g.Count()
			}
		}
	}

	byArrival := append([]Batch(nil), bs...)
	sort.SliceStable(byArrival, func(i, j int) bool { return byArrival[i].Arrived.Before(byArrival[j].Arrived) })
	newest := byArrival[len(byArrival)-1]
	st.NewestBatch, st.NewestArrived = newest.Number, newest.Arrived
	st.Age = max(now.Sub(newest.Arrived), 0)
	st.AgeHours = hours(st.Age)
	if c, ok := p.Cadences[l.MerchantAccount]; ok && c > 0 {
		st.Cadence, st.CadenceFrom = c, CadenceConfigured
	} else if c := learnCadence(byArrival); c > 0 {
		st.Cadence, st.CadenceFrom = c, CadenceLearned
	}
	st.CadenceHours = hours(st.Cadence)
	for i := range ackList {
		if a := ackList[i]; a.Closed && !a.At.Before(newest.Arrived) {
			st.Closed = &a
		}
	}
	if st.Cadence > 0 {
		st.LateAfter = newest.Arrived.Add(st.Cadence + grace)
		st.Late = !now.Before(st.LateAfter) && st.Closed == nil
	}
	st.Advice = advice(st)
	return st
}

// minInterval is the shortest arrival interval that says something about a cadence: reports uploaded
// together (a backfill, a folder run) arrive seconds apart, which is no schedule.
const minInterval = time.Hour

// learnCadence is the median interval between consecutive arrivals of the CadenceWindow most recent
// batches (sorted by arrival), leaving out intervals under minInterval, or 0 when too few are left.
func learnCadence(byArrival []Batch) time.Duration {
	recent := byArrival[max(0, len(byArrival)-CadenceWindow):]
	iv := make([]time.Duration, 0, len(recent))
	for i := 1; i < len(recent); i++ {
		if d := recent[i].Arrived.Sub(recent[i-1].Arrived); d >= minInterval {
			iv = append(iv, d)
		}
	}
	if len(iv) < minIntervals {
		return 0
	}
	sort.Slice(iv, func(i, j int) bool { return iv[i] < iv[j] })
	n := len(iv)
	if n%2 == 1 {
		return iv[n/2]
	}
	return iv[n/2-1] + (iv[n/2]-iv[n/2-1])/2
}

// hours is d in hours, to a tenth.
func hours(d time.Duration) float64 { return math.Round(d.Hours()*10) / 10 }

// splitByAcks cuts the gap first..last into the runs the acknowledgements cover and those they do not.
func splitByAcks(first, last int64, acks []Ack) []Gap {
	var out []Gap
	for cur := first; cur <= last; {
		var cover *Ack
		next := last + 1 // the first acknowledged number after cur
		for i := range acks {
			a := &acks[i]
			if a.Closed || a.Last < cur {
				continue
			}
			if a.First <= cur && (cover == nil || a.Last > cover.Last) {
				cover = a
			} else if a.First > cur && a.First < next {
				next = a.First
			}
		}
		if cover != nil {
			end := min(cover.Last, last)
			c := *cover
			out = append(out, Gap{First: cur, Last: end, Acknowledged: &c})
			cur = end + 1
			continue
		}
		out = append(out, Gap{First: cur, Last: next - 1})
		cur = next
	}
	return out
}

// advice is what to do about a status, one sentence per finding.
func advice(st Status) []string {
	out := []string{}
	grace, ack := st.Grace, st.AckCommand
	prov := ProviderTitle(st.Provider)
	for _, g := range st.Gaps {
		switch {
		case g.Acknowledged != nil:
		case g.Missing:
			out = append(out, fmt.Sprintf("batch %s is missing: ask %s for %s of %s; if it will never come, %s --merchant %s --batch %s --by NAME --reason WHY",
				g.Numbers(), prov, batchWord(g), st.MerchantAccount, ack, st.MerchantAccount, g.Numbers()))
		default:
			out = append(out, fmt.Sprintf("batch %s has not arrived yet: it counts as missing from %s (%s after a later batch arrived)",
				g.Numbers(), g.MissingAfter.UTC().Format(time.RFC3339), Duration(grace)))
		}
	}
	if st.Late {
		out = append(out, fmt.Sprintf("late: no batch since %s (%s ago, cadence %s): ask %s whether %s still settles; if the account is closed, %s --merchant %s --closed --by NAME --reason WHY",
			st.NewestArrived.UTC().Format(time.RFC3339), Duration(st.Age), Duration(st.Cadence), prov, st.MerchantAccount, ack, st.MerchantAccount))
	}
	return out
}

func batchWord(g Gap) string {
	if g.First == g.Last {
		return fmt.Sprintf("batch %d", g.First)
	}
	return fmt.Sprintf("batches %d to %d", g.First, g.Last)
}

// ProviderTitle names a provider for people: "adyen" is Adyen.
func ProviderTitle(p string) string {
	if p == "" {
		return p
	}
	return strings.ToUpper(p[:1]) + p[1:]
}

// Duration writes a duration the way people say it: 3d4h, 26h is 1d2h, 90m is 1h30m.
func Duration(d time.Duration) string {
	if d <= 0 {
		return "0h"
	}
	d = d.Round(time.Minute)
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	h, m := rest/time.Hour, (rest%time.Hour)/time.Minute
	var b strings.Builder
	if days > 0 {
		fmt.Fprintf(&b, "%dd", days)
	}
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if b.Len() == 0 {
		return "0h"
	}
	return b.String()
}
