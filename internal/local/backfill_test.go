package local_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

// fetchClock is the test clock as the fetcher's too: its waits between attempts advance the time and
// return at once; its timeouts never fire (the stand-in answers at once).
type fetchClock struct{ *clock }

func (fetchClock) AfterFunc(time.Duration, func()) func() bool { return func() bool { return true } }

const backfillMerchant = "AcmeShopNL"

// reportHost is a stand-in for Adyen's report host on loopback, serving one merchant account's
// settlement details reports by batch number: some batches never exist (404), some answer 503 a few
// times before they answer 200. It counts what it is asked and what it serves.
type reportHost struct {
	srv      *httptest.Server
	reports  map[int64][]byte
	missing  map[int64]bool
	mu       sync.Mutex
	flaps    map[int64]int // 503s still to answer
	requests map[int64]int
	served   map[int64]int // 200s
}

// newReportHost makes batches 1..n: a tenth of them missing and a twentieth answering 503 one to three
// times, chosen by seed; each report a few rows.
func newReportHost(t *testing.T, n int, seed uint64) *reportHost {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	perm := rng.Perm(n)
	h := &reportHost{reports: map[int64][]byte{}, missing: map[int64]bool{}, flaps: map[int64]int{},
		requests: map[int64]int{}, served: map[int64]int{}}
	for i, p := range perm {
		b := int64(p + 1)
		switch {
		case i < n/10:
			h.missing[b] = true
			continue
		case i < n/10+n/20:
			h.flaps[b] = 1 + rng.IntN(3) // within the fetcher's 4 attempts
		}
		var buf bytes.Buffer
		date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(b)).Format(time.DateOnly)
		if _, err := gen.Write(&buf, gen.Config{Rows: 4, Seed: uint64(b), Merchant: backfillMerchant, Batch: b, SettlementDate: date}); err != nil {
			t.Fatal(err)
		}
		h.reports[b] = buf.Bytes()
	}
	prefix := "/reports/download/MerchantAccount/" + backfillMerchant + "/settlement_detail_report_batch_"
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		num, ok := strings.CutPrefix(r.URL.Path, prefix)
		b, err := strconv.ParseInt(strings.TrimSuffix(num, ".csv"), 10, 64)
		h.mu.Lock()
		defer h.mu.Unlock()
		if !ok || err != nil || h.reports[b] == nil {
			h.requests[b]++
			http.NotFound(w, r)
			return
		}
		h.requests[b]++
		if h.flaps[b] > 0 {
			h.flaps[b]--
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		h.served[b]++
		_, _ = w.Write(h.reports[b])
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// counts returns the requests and the 200s so far, and resets them.
func (h *reportHost) counts() (requests, served map[int64]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	requests, served = h.requests, h.served
	h.requests, h.served = map[int64]int{}, map[int64]int{}
	return requests, served
}

func (h *reportHost) available() []int64 {
	var out []int64
	for b := range h.reports {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

func sum(m map[int64]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// backfiller is a data folder with the intake pointed at the stand-in (its address allowed as the dev
// server), and the operator that plans and runs the backfill.
type backfiller struct {
	e    *env
	in   *local.Intake
	op   *ops.Operator
	host *reportHost
}

func newBackfiller(t *testing.T, host *reportHost) *backfiller {
	t.Helper()
	e := newEnv(t, workflow.Config{})
	ap := netip.MustParseAddrPort(strings.TrimPrefix(host.srv.URL, "http://"))
	in := e.NewIntake(local.IntakeOptions{Policy: fetch.Policy{DevServer: ap}, Clock: fetchClock{e.clock}})
	return &backfiller{e: e, in: in, op: e.Operator(e.dir, func(v string) string { return "settle " + v }), host: host}
}

func (b *backfiller) run(t *testing.T, ctx context.Context, batches []int64, opt ops.BackfillOptions) ops.BackfillSummary {
	t.Helper()
	plan, err := b.op.PlanBackfill(context.Background(), ops.BackfillSpec{Merchant: backfillMerchant, Batches: batches, Host: b.host.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return b.op.Backfill(ctx, plan, b.in, opt)
}

// ledger is the account's committed batches with the ETag of the report each was committed from.
func (b *backfiller) ledger(t *testing.T) map[int64]string {
	t.Helper()
	accounts, err := workflow.LoadAccounts(context.Background(), b.e.Processed, backfillMerchant)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	for _, a := range accounts {
		for _, x := range a.Ledger.Batches {
			if _, dup := out[x.Number]; dup {
				t.Errorf("batch %d twice in the ledger", x.Number)
			}
			out[x.Number] = x.Source.ETag
		}
	}
	return out
}

// endState checks what a complete backfill leaves, whatever happened on the way: every available batch
// committed once, from the report the host serves, one manifest each, every execution succeeded, the
// table consistent with its manifests; it returns the ledger.
func (b *backfiller) endState(t *testing.T) map[int64]string {
	t.Helper()
	l := b.ledger(t)
	avail := b.host.available()
	if got := slices.Sorted(maps.Keys(l)); !slices.Equal(got, avail) {
		t.Errorf("ledger has %d batches, want the %d available: extra %v, missing %v", len(got), len(avail), diff(got, avail), diff(avail, got))
	}
	for n, etag := range l {
		if want := md5hex(b.host.reports[n]); etag != want {
			t.Errorf("batch %d committed from %s, want the served report %s", n, etag, want)
		}
	}
	manifests, err := b.e.Processed.List(context.Background(), workflow.ManifestPrefix+"adyen/"+backfillMerchant+"/")
	if err != nil || len(manifests) != len(avail) {
		t.Errorf("%d manifests (%v), want %d", len(manifests), err, len(avail))
	}
	list, err := b.e.Engine.List()
	if err != nil {
		t.Fatal(err)
	}
	succeeded := map[string]bool{}
	for _, x := range list {
		if x.Status != states.Succeeded {
			t.Errorf("execution %s is %s", x.Name, x.Status)
		}
		succeeded[workflow.ContentName(x.Name)] = true
	}
	if len(succeeded) != len(avail) {
		t.Errorf("%d contents executed, want %d", len(succeeded), len(avail))
	}
	verifyClean(t, b.e.Processed, b.e.clock.Now())
	return l
}

func diff(a, b []int64) []int64 {
	var out []int64
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func batchesFrom(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

// The backfill of 200 batches, a tenth of them never generated (404) and a twentieth answering 503 a
// few times: every available batch is committed exactly once and the summary's counts are exact; a
// rerun downloads nothing (it asks only for the batches not found, which may have been generated since);
// a backfill interrupted at a random point and run again ends in the same state.
func TestBackfillCommitsEveryAvailableBatchOnce(t *testing.T) {
	const seed = 7
	n := 200
	if raceEnabled { // the same proof on a fifth of the batches: the race detector slows the pipeline down
		n = 40
	}
	host := newReportHost(t, n, seed)
	avail, missing := len(host.reports), len(host.missing)
	flapping := map[int64]int{}
	for b, k := range host.flaps {
		flapping[b] = k
	}
	if avail != n*9/10 || missing != n/10 || len(flapping) != n/20 {
		t.Fatalf("stand-in: %d available, %d missing, %d flapping", avail, missing, len(flapping))
	}
	b := newBackfiller(t, host)
	var progress []int
	start := time.Now()
	s := b.run(t, context.Background(), batchesFrom(n), ops.BackfillOptions{Concurrency: 4, Progress: func(_ ops.BackfillItem, done, total int) {
		if total != n {
			t.Errorf("progress total %d, want %d", total, n)
		}
		progress = append(progress, done)
	}})
	t.Logf("%d batches backfilled in %s", n, time.Since(start).Round(time.Millisecond))
	if s.Batches != n || s.Fetched != avail || s.NotFound != missing || s.AlreadyThere != 0 || s.Failed != 0 || s.NotRun != 0 || s.Queued != 0 || s.Interrupted {
		t.Errorf("summary %+v", counts(s))
	}
	if !slices.Equal(progress, batchesFromInt(n)) {
		t.Errorf("progress %v, want 1..%d once each", progress, n)
	}
	for _, it := range s.Items {
		want := ops.BackfillFetched
		if host.missing[it.Batch] {
			want = ops.BackfillNotFound
		}
		if it.Outcome != want || want == ops.BackfillFetched && it.Execution == "" || want == ops.BackfillNotFound && !strings.Contains(it.Error, "not-found (HTTP 404)") {
			t.Errorf("batch %d: %+v, want %s", it.Batch, it, want)
		}
	}
	requests, served := host.counts()
	for bn := int64(1); bn <= int64(n); bn++ {
		wantReq, wantServed := 1, 1
		switch {
		case host.missing[bn]:
			wantServed = 0
		case flapping[bn] > 0:
			wantReq = 1 + flapping[bn] // the fetcher's own retries
		}
		if requests[bn] != wantReq || served[bn] != wantServed {
			t.Errorf("batch %d: %d requests and %d served, want %d and %d", bn, requests[bn], served[bn], wantReq, wantServed)
		}
	}
	first := b.endState(t)

	// Run again: everything committed is skipped; only the batches not found are asked for again.
	again := b.run(t, context.Background(), batchesFrom(n), ops.BackfillOptions{Concurrency: 4})
	if again.AlreadyThere != avail || again.NotFound != missing || again.Fetched != 0 || again.Failed != 0 || again.NotRun != 0 {
		t.Errorf("rerun summary %+v", counts(again))
	}
	requests, served = host.counts()
	if sum(served) != 0 || sum(requests) != missing {
		t.Errorf("the rerun downloaded %d reports in %d requests, want none in %d (the batches not found)", sum(served), sum(requests), missing)
	}
	for bn := range requests {
		if !host.missing[bn] {
			t.Errorf("the rerun asked for batch %d, which is committed", bn)
		}
	}
	if l := b.endState(t); !maps.Equal(l, first) {
		t.Error("the rerun changed the ledger")
	}

	// Interrupted after a random number of batches, on a fresh data folder, then run again.
	rng := rand.New(rand.NewPCG(seed, 2))
	stopAfter := 1 + rng.IntN(n-10) // the batches in progress then end, and some are left
	host2 := newReportHost(t, n, seed)
	b2 := newBackfiller(t, host2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cut := b2.run(t, ctx, batchesFrom(n), ops.BackfillOptions{Concurrency: 4, Progress: func(_ ops.BackfillItem, done, _ int) {
		if done == stopAfter {
			cancel()
		}
	}})
	t.Logf("interrupted after %d: %+v", stopAfter, counts(cut))
	if cut.Fetched+cut.NotFound+cut.NotRun != n || cut.Failed != 0 || cut.AlreadyThere != 0 || cut.NotRun == 0 || !cut.Interrupted {
		t.Errorf("interrupted summary %+v", counts(cut))
	}
	// What was reported fetched is committed, and nothing else: a report stored before the interruption
	// ran to its end.
	mid := b2.ledger(t)
	for _, it := range cut.Items {
		if _, ok := mid[it.Batch]; ok != (it.Outcome == ops.BackfillFetched) {
			t.Errorf("batch %d: %s, and in the ledger: %v", it.Batch, it.Outcome, ok)
		}
	}
	host2.counts()
	rest := b2.run(t, context.Background(), batchesFrom(n), ops.BackfillOptions{Concurrency: 4})
	if rest.AlreadyThere != cut.Fetched || rest.Fetched != avail-cut.Fetched || rest.NotFound != missing || rest.Failed != 0 || rest.NotRun != 0 {
		t.Errorf("after the interruption, the rerun's summary %+v (the ledger had %d)", counts(rest), len(mid))
	}
	_, served = host2.counts()
	if len(served) != avail-cut.Fetched {
		t.Errorf("the rerun downloaded %d batches, want the %d not committed", len(served), avail-cut.Fetched)
	}
	for bn, k := range served {
		if _, ok := mid[bn]; ok || k != 1 {
			t.Errorf("the rerun downloaded batch %d %d times (committed before: %v)", bn, k, ok)
		}
	}
	if l := b2.endState(t); !maps.Equal(l, first) {
		t.Error("the interrupted backfill, run again, committed other reports than the uninterrupted one")
	}
}

func batchesFromInt(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// counts is a summary without its items, for messages.
func counts(s ops.BackfillSummary) string {
	return fmt.Sprintf("batches %d: fetched %d, queued %d, already there %d, not found %d, failed %d, not run %d, interrupted %v",
		s.Batches, s.Fetched, s.Queued, s.AlreadyThere, s.NotFound, s.Failed, s.NotRun, s.Interrupted)
}
