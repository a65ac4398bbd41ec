package local_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/workflow"
)

// TestDuckDBGapQueryAgreesWithTheLedger: the SQL the stack saves as its MissingBatchesQuery
// (ledger.GapQuery), run by an independent engine (DuckDB) on the manifests as Athena reads them, lists
// exactly the gaps, MissingAfter times and missing flags that ledger.Analyze finds, on a history with
// out-of-order arrivals, gaps inside and past their grace period, and two merchant accounts.
func TestDuckDBGapQueryAgreesWithTheLedger(t *testing.T) {
	modules := nodeModules(t)
	e := newEnv(t, workflow.Config{})
	for _, step := range []struct {
		merchant string
		batch    int64
		wait     time.Duration
	}{
		{shop, 1, 24 * time.Hour}, {shop, 2, 24 * time.Hour}, {shop, 9, 5 * time.Hour}, {shop, 4, 24 * time.Hour},
		{"ShopB", 10, 20 * time.Hour}, {"ShopB", 12, 2 * time.Hour}, {shop, 6, 10 * time.Hour}, {"ShopB", 15, 0},
	} {
		e.batch(step.merchant, step.batch)
		e.advance(step.wait)
	}
	e.advance(30 * time.Hour) // some gaps are past the grace period, some not
	now := e.clock.Now().Add(time.Minute / 2)

	type gap struct {
		Provider     string `json:"provider"`
		Merchant     string `json:"merchant_account"`
		First        string `json:"first_missing"`
		Last         string `json:"last_missing"`
		Batches      string `json:"batches"`
		MissingAfter string `json:"missing_after_ms"`
		Missing      bool   `json:"missing"`
	}
	var want []gap
	accounts, err := workflow.LoadAccounts(t.Context(), e.Processed, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		st := ledger.Analyze(a.Ledger, nil, ledger.Policy{}, now)
		for _, g := range st.Gaps {
			want = append(want, gap{st.Provider, st.MerchantAccount, fmt.Sprint(g.First), fmt.Sprint(g.Last), fmt.Sprint(g.Count()),
				fmt.Sprint(g.MissingAfter.UnixMilli()), g.Missing})
		}
	}
	var missing, pending int
	for _, g := range want {
		if g.Missing {
			missing++
		} else {
			pending++
		}
	}
	if len(want) != 5 || missing == 0 || pending == 0 {
		t.Fatalf("the fixture needs gaps both past and within the grace period: %+v", want)
	}

	sql := ledger.GapQuery(ledger.QualifiedTable("settle_test"), fmt.Sprint(ledger.DefaultGrace.Hours()),
		"TIMESTAMPTZ '"+now.UTC().Format(time.RFC3339Nano)+"'")
	cmd := exec.Command("node", "../../scripts/duckdb-gaps.js", filepath.Join(e.dir, "processed"), "settle_test", sql)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb-gaps: %v\n%s", err, stderr.String())
	}
	var got []gap
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("DuckDB lists %d gaps (%d missing, %d within the grace period), as the ledger does", len(got), missing, pending)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DuckDB on the manifests:\n%+v\nthe ledger:\n%+v", got, want)
	}
}
