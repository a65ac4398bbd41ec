package ledger_test

import (
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/ledger"
)

// history1000 is a generated history of 1,000 batches: 50 merchant accounts with batches 1-7 and
// 9-21 each (batch 8 never comes), one a day, arriving in a six-hour window the day after.
func history1000(tb testing.TB) []gen.Planned {
	seq, err := gen.ParseSequence("1-7,9-21")
	if err != nil {
		tb.Fatal(err)
	}
	h, err := gen.History(gen.HistoryConfig{Merchants: 50, Batches: seq, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	if len(h) != 1000 {
		tb.Fatalf("%d batches", len(h))
	}
	return h
}

// replay records a history in arrival order, as Write does, running the scheduled check after each
// arrival; it returns the ledgers and every message published.
func replay(h []gen.Planned, check bool) (map[string]*ledger.Ledger, int) {
	ledgers := map[string]*ledger.Ledger{}
	alerts := map[string]*ledger.Alerts{}
	sent := 0
	for _, p := range h {
		l := ledgers[p.Merchant]
		if l == nil {
			l = ledger.New("adyen", p.Merchant)
			ledgers[p.Merchant], alerts[p.Merchant] = l, ledger.NewAlerts("adyen", p.Merchant)
		}
		l.Record(ledger.Batch{Number: p.Batch, SettlementDate: p.SettlementDate, Arrived: p.Arrival,
			Source: ledger.Source{Bucket: "raw", Key: p.FileName(), ETag: p.FileName()}, Rows: 100})
		if check {
			st := ledger.Analyze(l, nil, ledger.Policy{}, p.Arrival)
			next, msgs := ledger.Plan(alerts[p.Merchant], st, p.Arrival, ledger.ResendAfter)
			alerts[p.Merchant] = ledger.Confirm(next, msgs)
			sent += len(msgs)
		}
	}
	return ledgers, sent
}

// TestGeneratedHistory: on 1,000 generated batches across 50 accounts, each account has exactly the gap
// the history left (batch 8), missing 48 h after batch 9 arrived and announced once; each learns a
// daily cadence and is not late an hour after its last batch, and is 48 h after its next one was due.
func TestGeneratedHistory(t *testing.T) {
	h := history1000(t)
	ledgers, sent := replay(h, true)
	if len(ledgers) != 50 {
		t.Fatalf("%d ledgers", len(ledgers))
	}
	// Batch 9 arrives on the 9th day; the check after each arrival sees batch 8 missing two days later.
	if sent != 50 {
		t.Errorf("%d messages for 50 gaps, want one each", sent)
	}
	end := h[len(h)-1].Arrival
	for name, l := range ledgers {
		st := ledger.Analyze(l, nil, ledger.Policy{}, end.Add(time.Hour))
		if len(st.Gaps) != 1 || st.Gaps[0].First != 8 || st.Gaps[0].Last != 8 || !st.Gaps[0].Missing {
			t.Errorf("%s: gaps %+v", name, st.Gaps)
		}
		if st.Batches != 20 || st.LastBatch != 21 || st.Late {
			t.Errorf("%s: %d batches, last %d, late %v", name, st.Batches, st.LastBatch, st.Late)
		}
		if st.Cadence < 18*time.Hour || st.Cadence > 30*time.Hour {
			t.Errorf("%s: learned cadence %s, want about a day", name, st.Cadence)
		}
		if late := ledger.Analyze(l, nil, ledger.Policy{}, st.NewestArrived.Add(st.Cadence+ledger.DefaultGrace)); !late.Late {
			t.Errorf("%s: not late at cadence + grace", name)
		}
	}
}

// BenchmarkLedger1000: recording 1,000 generated batches across 50 merchant accounts, with the
// scheduled check (Analyze, Plan, Confirm) after every arrival.
func BenchmarkLedger1000(b *testing.B) {
	h := history1000(b)
	b.ReportAllocs()
	for b.Loop() {
		replay(h, true)
	}
}

// BenchmarkAnalyze50: one scheduled check of 50 ledgers of 20 batches.
func BenchmarkAnalyze50(b *testing.B) {
	h := history1000(b)
	ledgers, _ := replay(h, false)
	now := h[len(h)-1].Arrival
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range ledgers {
			ledger.Analyze(l, nil, ledger.Policy{}, now)
		}
	}
}
