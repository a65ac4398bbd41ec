package ledger_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/ledger"
)

var t0 = time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)

const hour = time.Hour

func batch(n int64, arrived time.Time, etag string) ledger.Batch {
	return ledger.Batch{Number: n, Arrived: arrived, SettlementDate: "2024-05-06", Source: ledger.Source{Bucket: "raw", Key: "k", ETag: etag}, Rows: 10}
}

func numbers(l *ledger.Ledger) []int64 {
	var out []int64
	for _, b := range l.Batches {
		out = append(out, b.Number)
	}
	return out
}

func TestRecord(t *testing.T) {
	l := ledger.New("adyen", "ShopEU")
	for _, n := range []int64{4, 1, 2} {
		if !l.Record(batch(n, t0, "e"+string(rune('0'+n)))) {
			t.Errorf("Record(%d) reported no change", n)
		}
	}
	if got := numbers(l); !reflect.DeepEqual(got, []int64{1, 2, 4}) {
		t.Fatalf("batches %v, want sorted 1 2 4", got)
	}
	if l.Record(batch(2, t0, "e2")) {
		t.Error("the same commit again changed the ledger")
	}
	replace := batch(2, t0.Add(hour), "f2")
	replace.Revision = 1
	if !l.Record(replace) || l.Find(2).Source.ETag != "f2" {
		t.Errorf("a replace did not replace the entry: %+v", l.Find(2))
	}
	if l.Record(batch(2, t0, "e2")) || l.Find(2).Source.ETag != "f2" {
		t.Error("a stale commit (older revision) overwrote the replace")
	}
	if l.Find(3) != nil {
		t.Error("Find(3) found a batch that is not there")
	}
}

func analyze(l *ledger.Ledger, acks *ledger.Acks, now time.Time) ledger.Status {
	return ledger.Analyze(l, acks, ledger.Policy{}, now)
}

// Batches 1, 2 and 4: batch 3 is pending until 48 h after batch 4 arrived, then missing.
func TestGapIsMissingAfterTheGracePeriod(t *testing.T) {
	l := ledger.New("adyen", "ShopEU")
	l.Record(batch(1, t0, "a"))
	l.Record(batch(2, t0.Add(24*hour), "b"))
	l.Record(batch(4, t0.Add(48*hour), "d"))
	before := analyze(l, nil, t0.Add(48*hour+47*hour))
	if len(before.Gaps) != 1 || before.Gaps[0].First != 3 || before.Gaps[0].Last != 3 || before.Gaps[0].Missing {
		t.Fatalf("before the grace period: gaps %+v", before.Gaps)
	}
	if before.MissingBatches != 0 || before.PendingBatches != 1 || before.State() != "pending 1" {
		t.Errorf("before: missing %d pending %d state %q", before.MissingBatches, before.PendingBatches, before.State())
	}
	after := analyze(l, nil, t0.Add(96*hour))
	if !after.Gaps[0].Missing || after.MissingBatches != 1 || !after.Gaps[0].MissingAfter.Equal(t0.Add(96*hour)) {
		t.Errorf("at the end of the grace period: %+v", after.Gaps)
	}
	if len(after.Advice) != 1 || !strings.Contains(after.Advice[0], "ask Adyen for batch 3 of ShopEU") ||
		!strings.Contains(after.Advice[0], "settle batches ack --merchant ShopEU --batch 3") {
		t.Errorf("advice %q", after.Advice)
	}
	l.Record(batch(3, t0.Add(97*hour), "c"))
	if closed := analyze(l, nil, t0.Add(98*hour)); len(closed.Gaps) != 0 || closed.State() != "ok" {
		t.Errorf("after batch 3 arrived: %+v %s", closed.Gaps, closed.State())
	}
}

// The grace period runs from the earliest arrival among the later batches: batch 9 arriving first
// starts the clock for the whole run 3-8.
func TestGraceRunsFromTheEarliestLaterArrival(t *testing.T) {
	l := ledger.New("adyen", "ShopEU")
	l.Record(batch(2, t0, "b"))
	l.Record(batch(9, t0.Add(10*hour), "i"))
	l.Record(batch(5, t0.Add(40*hour), "e"))
	st := analyze(l, nil, t0.Add(59*hour))
	if len(st.Gaps) != 2 {
		t.Fatalf("gaps %+v", st.Gaps)
	}
	for _, g := range st.Gaps {
		if !g.MissingAfter.Equal(t0.Add(58*hour)) || !g.Missing {
			t.Errorf("gap %s: missing after %s (%v), want %s", g.Numbers(), g.MissingAfter, g.Missing, t0.Add(58*hour))
		}
	}
	if st.MissingBatches != 5 || st.LastBatch != 9 || st.NewestBatch != 5 {
		t.Errorf("missing %d, last %d, newest %d", st.MissingBatches, st.LastBatch, st.NewestBatch)
	}
}

func TestAcknowledgementsSplitGaps(t *testing.T) {
	l := ledger.New("adyen", "ShopEU")
	l.Record(batch(1, t0, "a"))
	l.Record(batch(10, t0, "j"))
	acks := ledger.NewAcks("adyen", "ShopEU")
	acks.Add(ledger.Ack{First: 3, Last: 4, By: "ana", Reason: "Adyen skipped them", At: t0})
	acks.Add(ledger.Ack{First: 8, Last: 12, By: "ana", Reason: "skipped", At: t0})
	st := analyze(l, acks, t0.Add(100*hour))
	var got []string
	for _, g := range st.Gaps {
		s := g.Numbers()
		if g.Acknowledged != nil {
			s += " by " + g.Acknowledged.By
		}
		got = append(got, s)
	}
	if want := []string{"2", "3-4 by ana", "5-7", "8-9 by ana"}; !reflect.DeepEqual(got, want) {
		t.Errorf("gaps %v, want %v", got, want)
	}
	if st.MissingBatches != 4 || st.GapsText() != "2 missing, 3-4 acknowledged, 5-7 missing, 8-9 acknowledged" {
		t.Errorf("missing %d, gaps %q", st.MissingBatches, st.GapsText())
	}
	if acks.Add(ledger.Ack{First: 3, Last: 4, By: "ana", Reason: "Adyen skipped them", At: t0.Add(hour)}) {
		t.Error("the same acknowledgement twice was recorded twice")
	}
}

func daily(l *ledger.Ledger, from, to int64) {
	for n := from; n <= to; n++ {
		l.Record(batch(n, t0.Add(time.Duration(n)*24*hour), "e"))
	}
}

// A merchant account on a daily cadence that stops is late after cadence + grace, and not before.
func TestLateAfterCadenceAndGrace(t *testing.T) {
	l := ledger.New("adyen", "ShopEU")
	daily(l, 1, 10)
	last := t0.Add(10 * 24 * hour)
	st := analyze(l, nil, last.Add(72*hour-time.Second))
	if st.Cadence != 24*hour || st.CadenceFrom != ledger.CadenceLearned || st.Late {
		t.Fatalf("just before: cadence %s (%s), late %v", st.Cadence, st.CadenceFrom, st.Late)
	}
	st = analyze(l, nil, last.Add(72*hour))
	if !st.Late || !st.LateAfter.Equal(last.Add(72*hour)) || st.State() != "late" {
		t.Errorf("at cadence + grace: late %v after %s", st.Late, st.LateAfter)
	}
	if len(st.Advice) != 1 || !strings.Contains(st.Advice[0], "--closed") {
		t.Errorf("advice %q", st.Advice)
	}
	// A configured cadence wins over the learned one.
	st = ledger.Analyze(l, nil, ledger.Policy{Cadences: map[string]time.Duration{"ShopEU": 7 * 24 * hour}}, last.Add(72*hour))
	if st.Late || st.CadenceFrom != ledger.CadenceConfigured {
		t.Errorf("configured weekly: late %v, cadence from %s", st.Late, st.CadenceFrom)
	}
	// Closed: not late, until a batch arrives after the acknowledgement.
	acks := ledger.NewAcks("adyen", "ShopEU")
	acks.Add(ledger.Ack{Closed: true, By: "bo", Reason: "contract ended", At: last.Add(80 * hour)})
	if st := analyze(l, acks, last.Add(100*hour)); st.Late || st.Closed == nil {
		t.Errorf("closed account: late %v, closed %v", st.Late, st.Closed)
	}
	l.Record(batch(11, last.Add(90*hour), "k"))
	if st := analyze(l, acks, last.Add(90*hour+73*hour)); st.Closed != nil || !st.Late {
		t.Errorf("a batch after the acknowledgement reopens the account: closed %v late %v", st.Closed, st.Late)
	}
}

// The cadence is the median interval of the last CadenceWindow arrivals; two batches are no pattern.
func TestLearnedCadence(t *testing.T) {
	l := ledger.New("adyen", "ShopEU")
	l.Record(batch(1, t0, "a"))
	l.Record(batch(2, t0.Add(24*hour), "b"))
	if st := analyze(l, nil, t0.Add(1000*hour)); st.Cadence != 0 || st.Late {
		t.Errorf("two batches: cadence %s, late %v", st.Cadence, st.Late)
	}
	// 30 weekly batches, then 20 daily ones: only the last 20 count.
	l = ledger.New("adyen", "ShopEU")
	at := t0
	for n := int64(1); n <= 50; n++ {
		if n <= 30 {
			at = at.Add(7 * 24 * hour)
		} else {
			at = at.Add(24 * hour)
		}
		l.Record(batch(n, at, "e"))
	}
	if st := analyze(l, nil, at); st.Cadence != 24*hour {
		t.Errorf("cadence %s, want 24h from the last 20 batches", st.Cadence)
	}
	// Reports uploaded together are no cadence: intervals under an hour do not count.
	l = ledger.New("adyen", "ShopEU")
	for n := int64(1); n <= 10; n++ {
		l.Record(batch(n, t0.Add(time.Duration(n)*time.Second), "e"))
	}
	if st := analyze(l, nil, t0.Add(1000*hour)); st.Cadence != 0 || st.Late {
		t.Errorf("a backfill: cadence %s, late %v", st.Cadence, st.Late)
	}
	// An even number of intervals: the mean of the middle two.
	l = ledger.New("adyen", "ShopEU")
	for i, d := range []time.Duration{0, 10 * hour, 30 * hour, 60 * hour, 100 * hour} {
		l.Record(batch(int64(i+1), t0.Add(d), "e"))
	}
	if st := analyze(l, nil, t0); st.Cadence != 25*hour {
		t.Errorf("intervals 10 20 30 40 h: cadence %s, want 25h", st.Cadence)
	}
}

func TestPolicyFromEnv(t *testing.T) {
	env := map[string]string{"BATCH_GRACE_HOURS": "24", "BATCH_CADENCES": "ShopEU=24h, ShopUS=7d"}
	p, err := ledger.PolicyFromEnv(func(k string) string { return env[k] })
	if err != nil || p.Grace != 24*hour || p.Cadences["ShopUS"] != 7*24*hour || p.Cadences["ShopEU"] != 24*hour {
		t.Errorf("PolicyFromEnv = %+v, %v", p, err)
	}
	if p, err := ledger.PolicyFromEnv(func(string) string { return "" }); err != nil || p.GraceOrDefault() != ledger.DefaultGrace {
		t.Errorf("defaults: %+v %v", p, err)
	}
	for _, bad := range []map[string]string{
		{"BATCH_GRACE_HOURS": "0"}, {"BATCH_GRACE_HOURS": "2d"}, {"BATCH_CADENCES": "ShopEU"},
		{"BATCH_CADENCES": "ShopEU=fast"}, {"BATCH_CADENCES": "ShopEU=10m"}, {"BATCH_CADENCES": "=24h"},
	} {
		if _, err := ledger.PolicyFromEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("PolicyFromEnv(%v) accepted", bad)
		}
	}
}

func TestAckCheck(t *testing.T) {
	good := ledger.Ack{First: 3, Last: 3, By: "ana", Reason: "skipped", At: t0}
	if err := good.Check(); err != nil {
		t.Error(err)
	}
	for _, bad := range []ledger.Ack{
		{First: 3, Last: 3, Reason: "x", At: t0}, {First: 3, Last: 3, By: "a", At: t0}, {First: 0, Last: 0, By: "a", Reason: "x", At: t0},
		{First: 5, Last: 4, By: "a", Reason: "x", At: t0}, {Closed: true, First: 1, Last: 1, By: "a", Reason: "x", At: t0},
		{First: 1, Last: 1, By: "a", Reason: "x"},
	} {
		if bad.Check() == nil {
			t.Errorf("%+v passed", bad)
		}
	}
}

func TestGapWarning(t *testing.T) {
	l := ledger.New("adyen", "ShopEU")
	for _, n := range []int64{1, 2, 4, 9, 10} {
		l.Record(batch(n, t0, "e"))
	}
	st := analyze(l, nil, t0)
	if w := ledger.GapWarning([]ledger.Status{st}, map[string][]int64{"adyen/ShopEU": {4}}); w !=
		"warning: these files leave gaps in the batch sequence: adyen/ShopEU batch 3; adyen/ShopEU batches 5-8 not here yet; a gap counts as missing 2d after a later batch arrived (settle batches lists them)" {
		t.Errorf("warning %q", w)
	}
	if w := ledger.GapWarning([]ledger.Status{st}, map[string][]int64{"adyen/ShopEU": {10}}); w != "" {
		t.Errorf("batch 10 leaves no gap, got %q", w)
	}
}

func TestStatusJSON(t *testing.T) {
	l := ledger.New("adyen", "ShopEU")
	daily(l, 1, 3)
	l.Record(batch(5, t0.Add(5*24*hour), "e"))
	b, err := json.Marshal(analyze(l, nil, t0.Add(8*24*hour)))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k, want := range map[string]any{"merchant_account": "ShopEU", "last_batch": 5.0, "missing_batches": 1.0, "late": true,
		"age_hours": 72.0, "cadence_hours": 24.0, "grace_hours": 48.0} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v in %s", k, m[k], want, b)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0h", 90 * time.Minute: "1h30m", 26 * hour: "1d2h", 72 * hour: "3d", 20 * time.Second: "0h"} {
		if got := ledger.Duration(d); got != want {
			t.Errorf("Duration(%s) = %s, want %s", d, got, want)
		}
	}
}
