package local_test

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/workflow"
)

// repairScene is a data folder whose report intake downloads from a stand-in of Adyen's report host,
// with shop's batches 1, 2 and 4 committed through it: batch 3 is the gap.
type repairScene struct {
	*env
	host   *adyenStandIn
	in     *local.Intake
	batch3 []byte
}

func newRepairScene(t *testing.T) *repairScene {
	t.Helper()
	s := &repairScene{env: newEnvWith(t, workflow.Config{}, weekly), host: newAdyenStandIn(t)}
	u, _ := url.Parse(s.host.srv.URL)
	s.in = s.NewIntake(local.IntakeOptions{
		Policy:      fetch.Policy{Hosts: []string{u.Host}, AllowAddr: func(a netip.Addr) bool { return a.IsLoopback() }},
		Credentials: func(context.Context) (string, string, error) { return reportUser, reportPass, nil },
		TLS:         s.host.srv.Client().Transport.(*http.Transport).TLSClientConfig,
	})
	for _, n := range []int64{1, 2, 3, 4} {
		var b bytes.Buffer
		if _, err := gen.Write(&b, gen.Config{Rows: 20, Seed: uint64(n), Merchant: shop, Batch: n,
			SettlementDate: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n)).Format(time.DateOnly)}); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			s.host.serve(batchPath(n), b.Bytes())
			want(t, s.in.Fetch(t.Context(), s.request(n)), local.Succeeded)
		} else {
			s.batch3 = b.Bytes()
		}
		s.advance(time.Hour)
	}
	s.host.mu.Lock()
	s.host.hits = 0
	s.host.mu.Unlock()
	return s
}

func batchPath(n int64) string {
	return "/reports/download/MerchantAccount/" + shop + "/" + fetch.BatchFileName(n)
}

func (s *repairScene) request(n int64) fetch.Request {
	s.t.Helper()
	r, err := fetch.BatchRequest(s.host.srv.URL, shop, n)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// check runs the hourly check with its gap repair, and returns what it published and ran.
func (s *repairScene) check() ([]map[string]string, []local.FileResult) {
	s.t.Helper()
	before := len(s.notifications())
	_, results, err := s.CheckBatchesRepairing(s.t.Context(), s.in, s.host.srv.URL, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.notifications()[before:], results
}

func (s *repairScene) requests() int {
	s.host.mu.Lock()
	defer s.host.mu.Unlock()
	return s.host.hits
}

// TestGapRepairedByTheCheck: the check asks the report host for the batch a gap lacks, the report is
// committed like any other, no missing alert is sent, and one message says the gap was repaired.
func TestGapRepairedByTheCheck(t *testing.T) {
	s := newRepairScene(t)
	s.host.serve(batchPath(3), s.batch3)
	msgs, results := s.check()
	if len(results) != 1 || results[0].Status != local.Succeeded || !strings.HasSuffix(results[0].File, fetch.BatchFileName(3)) {
		t.Fatalf("the check's fetch: %+v", results)
	}
	if len(msgs) != 0 {
		t.Errorf("the check that fetched the batch published %v", msgs)
	}
	var all []map[string]string
	for range 100 { // four days of hourly checks
		s.advance(time.Hour)
		m, r := s.check()
		all = append(all, m...)
		if len(r) != 0 {
			t.Fatalf("a committed batch was fetched again: %+v", r)
		}
	}
	if len(all) != 1 || !strings.Contains(all[0]["subject"], "repaired: batch 3 of adyen/"+shop) ||
		!strings.Contains(all[0]["message"], "repaired without anyone") {
		t.Errorf("messages after the repair: %v", all)
	}
	if n := s.requests(); n != 1 {
		t.Errorf("the report host got %d requests, want 1", n)
	}
	sts, err := operatorOf(s.Env).Batches(t.Context(), shop)
	if err != nil || len(sts) != 1 || len(sts[0].Gaps) != 0 || sts[0].LastBatch != 4 {
		t.Errorf("ledger after the repair: %+v %v", sts, err)
	}
}

// TestGapNotGeneratedYet: while the report host answers 404 the check asks again with a doubling wait
// until the gap counts as missing, then stops; exactly one missing alert names what was tried.
func TestGapNotGeneratedYet(t *testing.T) {
	s := newRepairScene(t)
	var alerts []map[string]string
	var asked []int // the check's hours at which the host was asked
	for h := range 100 {
		before := s.requests()
		msgs, results := s.check()
		if s.requests() > before {
			asked = append(asked, h)
			if len(results) != 1 || results[0].Status != local.Skipped || !strings.Contains(results[0].Error, "not generated yet") {
				t.Errorf("hour %d: %+v", h, results)
			}
		}
		for _, m := range msgs {
			if strings.Contains(m["subject"], "missing") {
				alerts = append(alerts, m)
			}
		}
		s.advance(time.Hour)
	}
	// Asked at once, then 1, 2, 4, 8 and 16 hours after the previous request, while within the 48-hour
	// grace period that began when batch 4 arrived (an hour before the first check).
	if want := []int{0, 1, 3, 7, 15, 31}; !slices.Equal(asked, want) {
		t.Errorf("the host was asked at hours %v, want %v", asked, want)
	}
	if len(alerts) != 1 {
		t.Fatalf("missing alerts: %v", alerts)
	}
	if text := alerts[0]["message"]; !strings.Contains(text, "asked the report host for it by itself: batch 3 6 times") {
		t.Errorf("the missing alert does not name the attempts:\n%s", text)
	}
	if dead, err := os.ReadDir(filepath.Join(s.dir, local.FetchDLQDir)); err == nil || len(dead) != 0 {
		t.Errorf("a 404 of the repair went to the fetch dead-letter queue: %v", dead)
	}
}
