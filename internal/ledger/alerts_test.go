package ledger_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/ledger"
)

// checker replays what the scheduled check does with the stored alert state: plan, store, publish,
// confirm. It records every message published.
type checker struct {
	t      *testing.T
	state  *ledger.Alerts
	sent   []ledger.Message
	policy ledger.Policy
}

func newChecker(t *testing.T) *checker {
	return &checker{t: t, state: ledger.NewAlerts("adyen", "ShopEU")}
}

// run is one check at now; it returns the kinds and numbers it published.
func (c *checker) run(l *ledger.Ledger, acks *ledger.Acks, now time.Time) []string {
	st := ledger.Analyze(l, acks, c.policy, now)
	next, msgs := ledger.Plan(c.state, st, now, ledger.ResendAfter)
	c.state = ledger.Confirm(next, msgs)
	c.sent = append(c.sent, msgs...)
	return describe(msgs)
}

func describe(msgs []ledger.Message) []string {
	out := []string{}
	for _, m := range msgs {
		s := m.Kind
		if m.First != 0 {
			s += fmt.Sprintf(" %d-%d", m.First, m.Last)
		}
		out = append(out, s)
	}
	return out
}

func same(got []string, want ...string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	return strings.Join(got, ",") == strings.Join(want, ",")
}

// Batches 1, 2, 4: batch 3 alerts once after the grace period and never again; its arrival sends one
// resolution, then nothing.
func TestAlertOnceAndResolveOnce(t *testing.T) {
	c := newChecker(t)
	l := ledger.New("adyen", "ShopEU")
	l.Record(batch(1, t0, "a"))
	l.Record(batch(2, t0.Add(24*hour), "b"))
	l.Record(batch(4, t0.Add(48*hour), "d"))
	if got := c.run(l, nil, t0.Add(95*hour)); !same(got) {
		t.Errorf("within the grace period: %v", got)
	}
	if got := c.run(l, nil, t0.Add(96*hour)); !same(got, "missing 3-3") {
		t.Errorf("after the grace period: %v", got)
	}
	m := c.sent[0]
	if !strings.Contains(m.Subject, "batch 3 of adyen/ShopEU missing") || !strings.Contains(m.Text, "ask Adyen for batch 3 of ShopEU") ||
		!strings.Contains(m.Text, "settle batches ack --merchant ShopEU --batch 3 --by NAME --reason WHY") {
		t.Errorf("alert: %s\n%s", m.Subject, m.Text)
	}
	for h := 97; h < 120; h++ {
		if got := c.run(l, nil, t0.Add(time.Duration(h)*hour)); !same(got) {
			t.Errorf("hour %d: sent %v again", h, got)
		}
	}
	if c.state.Missing[0].State != ledger.Open {
		t.Errorf("state %+v", c.state.Missing)
	}
	l.Record(batch(3, t0.Add(120*hour), "c"))
	if got := c.run(l, nil, t0.Add(121*hour)); !same(got, "missing-resolved 3-3") {
		t.Errorf("batch 3 arrived: %v", got)
	}
	if got := c.run(l, nil, t0.Add(122*hour)); !same(got) || len(c.state.Missing) != 0 {
		t.Errorf("after the resolution: sent %v, state %+v", got, c.state.Missing)
	}
}

// Two checks that read the same state plan the same claims; only the one whose write of the state
// wins publishes (the workflow's conditional write), so the plan must be the same for both.
func TestPlanIsDeterministic(t *testing.T) {
	l := ledger.New("adyen", "ShopEU")
	l.Record(batch(1, t0, "a"))
	l.Record(batch(3, t0, "c"))
	st := ledger.Analyze(l, nil, ledger.Policy{}, t0.Add(49*hour))
	cur := ledger.NewAlerts("adyen", "ShopEU")
	a, ma := ledger.Plan(cur, st, t0.Add(49*hour), ledger.ResendAfter)
	b, mb := ledger.Plan(cur, st, t0.Add(49*hour), ledger.ResendAfter)
	if fmt.Sprint(a, ma) != fmt.Sprint(b, mb) {
		t.Errorf("two plans of one state differ:\n%v %v\n%v %v", a, ma, b, mb)
	}
	// The loser reads the winner's state: nothing left to send.
	if _, again := ledger.Plan(a, st, t0.Add(49*hour), ledger.ResendAfter); len(again) != 0 {
		t.Errorf("planning on the claimed state sends %v", describe(again))
	}
}

// A claim never confirmed (the check died before or while publishing) is sent again after ResendAfter,
// not before.
func TestUnconfirmedClaimIsResent(t *testing.T) {
	l := ledger.New("adyen", "ShopEU")
	l.Record(batch(1, t0, "a"))
	l.Record(batch(3, t0, "c"))
	now := t0.Add(49 * hour)
	st := ledger.Analyze(l, nil, ledger.Policy{}, now)
	claimed, msgs := ledger.Plan(ledger.NewAlerts("adyen", "ShopEU"), st, now, ledger.ResendAfter)
	if !same(describe(msgs), "missing 2-2") {
		t.Fatal(describe(msgs))
	}
	if _, again := ledger.Plan(claimed, st, now.Add(ledger.ResendAfter-time.Second), ledger.ResendAfter); len(again) != 0 {
		t.Errorf("resent before ResendAfter: %v", describe(again))
	}
	next, again := ledger.Plan(claimed, st, now.Add(ledger.ResendAfter), ledger.ResendAfter)
	if !same(describe(again), "missing 2-2") || next.Missing[0].Attempts != 2 {
		t.Errorf("after ResendAfter: %v, %+v", describe(again), next.Missing)
	}
	// The first claim's late confirmation does not confirm the second claim.
	if c := ledger.Confirm(next, msgs); c.Missing[0].State != ledger.Sending {
		t.Errorf("a stale confirmation changed the new claim: %+v", c.Missing)
	}
}

// An acknowledged gap never alerts again, and an open alert about it ends without a message.
func TestAcknowledgedGapIsSilent(t *testing.T) {
	c := newChecker(t)
	l := ledger.New("adyen", "ShopEU")
	l.Record(batch(1, t0, "a"))
	l.Record(batch(5, t0, "e"))
	if got := c.run(l, nil, t0.Add(49*hour)); !same(got, "missing 2-4") {
		t.Fatal(got)
	}
	acks := ledger.NewAcks("adyen", "ShopEU")
	acks.Add(ledger.Ack{First: 2, Last: 3, By: "ana", Reason: "skipped by Adyen", At: t0.Add(50 * hour)})
	if got := c.run(l, acks, t0.Add(51*hour)); !same(got) {
		t.Errorf("after the acknowledgement: %v", got)
	}
	if len(c.state.Missing) != 1 || c.state.Missing[0].First != 4 || c.state.Missing[0].State != ledger.Open {
		t.Errorf("state %+v, want only 4 open", c.state.Missing)
	}
	acks.Add(ledger.Ack{First: 4, Last: 4, By: "ana", Reason: "skipped", At: t0.Add(52 * hour)})
	for h := 52; h < 80; h++ {
		if got := c.run(l, acks, t0.Add(time.Duration(h)*hour)); !same(got) {
			t.Errorf("hour %d: %v", h, got)
		}
	}
	if len(c.state.Missing) != 0 {
		t.Errorf("state %+v", c.state.Missing)
	}
}

// Part of an announced run arrives: one resolution for it; the rest stays announced; a new gap later
// gets its own alert.
func TestPartialArrivalAndNewGap(t *testing.T) {
	c := newChecker(t)
	l := ledger.New("adyen", "ShopEU")
	l.Record(batch(1, t0, "a"))
	l.Record(batch(5, t0, "e"))
	c.run(l, nil, t0.Add(49*hour))
	l.Record(batch(3, t0.Add(50*hour), "c"))
	l.Record(batch(8, t0.Add(50*hour), "h"))
	if got := c.run(l, nil, t0.Add(51*hour)); !same(got, "missing-resolved 3-3") {
		t.Errorf("batch 3 arrived: %v", got)
	}
	if got := c.run(l, nil, t0.Add(99*hour)); !same(got, "missing 6-7") {
		t.Errorf("gap 6-7 after its grace: %v", got)
	}
	var open []string
	for _, a := range c.state.Missing {
		open = append(open, fmt.Sprintf("%d-%d %s", a.First, a.Last, a.State))
	}
	if strings.Join(open, ",") != "2-2 open,4-4 open,6-7 open" {
		t.Errorf("state %v", open)
	}
}

// Lateness alerts once, resolves once when a batch arrives, and a closed account ends it silently.
func TestLateAlertOnce(t *testing.T) {
	c := newChecker(t)
	l := ledger.New("adyen", "ShopEU")
	daily(l, 1, 10)
	last := t0.Add(10 * 24 * hour)
	if got := c.run(l, nil, last.Add(71*hour)); !same(got) {
		t.Errorf("before cadence + grace: %v", got)
	}
	if got := c.run(l, nil, last.Add(72*hour)); !same(got, "late") {
		t.Errorf("at cadence + grace: %v", got)
	}
	if m := c.sent[len(c.sent)-1]; !strings.Contains(m.Text, "newest settlement batch, 10") || !strings.Contains(m.Text, "every 1d (learned)") {
		t.Errorf("late message: %s", m.Text)
	}
	if got := c.run(l, nil, last.Add(100*hour)); !same(got) {
		t.Errorf("still late: %v", got)
	}
	l.Record(batch(11, last.Add(101*hour), "k"))
	if got := c.run(l, nil, last.Add(102*hour)); !same(got, "late-resolved") || c.state.Late != nil {
		t.Errorf("a batch arrived: %v, state %+v", got, c.state.Late)
	}
	// Late again, then acknowledged closed: the alert ends without a message.
	if got := c.run(l, nil, last.Add(101*hour+72*hour)); !same(got, "late") {
		t.Fatalf("late again: %v", got)
	}
	acks := ledger.NewAcks("adyen", "ShopEU")
	acks.Add(ledger.Ack{Closed: true, By: "bo", Reason: "contract ended", At: last.Add(200 * hour)})
	if got := c.run(l, acks, last.Add(201*hour)); !same(got) || c.state.Late != nil {
		t.Errorf("closed: %v, state %+v", got, c.state.Late)
	}
}
