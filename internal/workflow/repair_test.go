package workflow

import (
	"context"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/ledger"
)

type sent struct{ bodies [][]byte }

func (s *sent) Send(_ context.Context, b []byte) error { s.bodies = append(s.bodies, b); return nil }

// TestRepairPlan: which batches a check asks for, and when it asks again.
func TestRepairPlan(t *testing.T) {
	now := time.Date(2024, 5, 10, 8, 0, 0, 0, time.UTC)
	r := &Repair{Queue: &sent{}, Host: "https://" + fetch.TestHost, Off: []string{"adyen/Quiet"}, MaxPerCheck: 3}
	st := ledger.Status{Provider: "adyen", MerchantAccount: "Shop", LastBatch: 20, Gaps: []ledger.Gap{
		{First: 3, Last: 3},
		{First: 5, Last: 9, Missing: true},
		{First: 12, Last: 12, Acknowledged: &ledger.Ack{}},
	}}
	empty := &Repairs{Version: 1, Batches: []RepairAttempt{}}
	next, msgs := r.plan(empty, st, now)
	var asked []int64
	for _, m := range msgs {
		if m.Request == nil || !m.Request.Speculative || m.Request.MerchantAccount != "Shop" {
			t.Fatalf("plan: %+v", m)
		}
		asked = append(asked, m.Batch)
	}
	// At most three per check, lowest first; an acknowledged gap is never asked for.
	if len(asked) != 3 || asked[0] != 3 || asked[1] != 5 || asked[2] != 6 {
		t.Errorf("first check asks for %v", asked)
	}
	// An hour later: 7, 8, 9 (asked for the first time), not 3 again (its wait is an hour: due now), …
	next2, msgs2 := r.plan(next, st, now.Add(30*time.Minute))
	for _, m := range msgs2 {
		if m.Batch == 3 || m.Batch == 5 || m.Batch == 6 {
			t.Errorf("half an hour later the check asks for %d again", m.Batch)
		}
	}
	// … and a missing batch asked for once is not asked for again: the alert speaks for it.
	_, msgs3 := r.plan(next2, st, now.Add(48*time.Hour))
	for _, m := range msgs3 {
		if m.Batch >= 5 && m.Batch <= 9 {
			t.Errorf("a missing batch asked for once is asked for again: %d", m.Batch)
		}
	}
	// A late account: its next batch. An account turned off: nothing.
	late := ledger.Status{Provider: "adyen", MerchantAccount: "Shop", LastBatch: 20, Late: true}
	if _, m := r.plan(empty, late, now); len(m) != 1 || m[0].Batch != 21 {
		t.Errorf("late account: %+v", m)
	}
	if r.on(ledger.Status{Provider: "adyen", MerchantAccount: "Quiet"}) {
		t.Error("an account listed in Off is repaired")
	}
	// Committed since: announced once as repaired, then forgotten once confirmed.
	done := ledger.Status{Provider: "adyen", MerchantAccount: "Shop", LastBatch: 20}
	after, m := r.plan(next, done, now.Add(2*time.Hour))
	if len(m) != 3 || m[0].Repaired == nil {
		t.Fatalf("repairs announced: %+v", m)
	}
	if left := confirmRepairs(after, m); len(left.Batches) != 0 {
		t.Errorf("after the announcement: %+v", left.Batches)
	}
}

func TestRepairFromEnv(t *testing.T) {
	env := map[string]string{EnvRepairGapsOff: " A, adyen/B ,"}
	r, err := RepairFromEnv(func(k string) string { return env[k] })
	if err != nil || r == nil || len(r.Off) != 2 || r.Off[0] != "A" || r.Off[1] != "adyen/B" {
		t.Errorf("RepairFromEnv = %+v, %v", r, err)
	}
	env[EnvRepairGaps] = "off"
	if r, err := RepairFromEnv(func(k string) string { return env[k] }); r != nil || err != nil {
		t.Errorf("off: %+v, %v", r, err)
	}
	env[EnvRepairGaps] = "sometimes"
	if _, err := RepairFromEnv(func(k string) string { return env[k] }); err == nil {
		t.Error("REPAIR_GAPS=sometimes accepted")
	}
}
