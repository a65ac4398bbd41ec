package local_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/money"
	"github.com/paysettle/settle/internal/proof"
	"github.com/paysettle/settle/internal/workflow"
)

// nodeModules returns the folder holding @duckdb/node-api: SETTLE_NODE_MODULES, which .ci/run sets after
// installing it. Without it the test is skipped locally, and fails in CI.
func nodeModules(t *testing.T) string {
	dir := os.Getenv("SETTLE_NODE_MODULES")
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "@duckdb", "node-api")); err == nil {
			return dir
		}
	}
	proof.Missing(t, "SETTLE_NODE_MODULES=%q does not hold @duckdb/node-api@1.5.6-r.1, which the DuckDB cross-check needs; .ci/run installs it", dir)
	return ""
}

// TestDuckDBReadsTheOutput: an independent reader (DuckDB, hive_partitioning=true) sees exact DECIMAL and
// UTC TIMESTAMP columns and a DATE partition, and its per-currency sums equal the ones the pipeline
// computed from the CSV (the manifests), to the last digit.
func TestDuckDBReadsTheOutput(t *testing.T) {
	modules := nodeModules(t)
	e := newEnv(t, workflow.Config{})
	for i, day := range []string{"2024-05-03", "2024-05-04"} {
		r := e.run(e.report("batch.csv"+day, gen.Config{Rows: 20_000, Seed: uint64(i + 1), Batch: int64(200 + i), SettlementDate: day}))
		want(t, r, "SUCCEEDED")
	}
	cmd := exec.Command("node", "../../scripts/duckdb-check.js", filepath.Join(e.dir, "processed"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb-check: %v\n%s", err, stderr.String())
	}
	var got struct {
		Types      map[string]string   `json:"types"`
		Net        []map[string]string `json:"net"`
		Gross      []map[string]string `json:"gross"`
		Partitions []map[string]string `json:"partitions"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for col, typ := range map[string]string{
		"gross_debit": "DECIMAL(18,3)", "net_amount": "DECIMAL(18,3)", "total_fees": "DECIMAL(18,3)",
		"exchange_rate": "DECIMAL(38,18)", "creation_time": "TIMESTAMP WITH TIME ZONE",
		"booking_time": "TIMESTAMP WITH TIME ZONE", "settlement_date": "DATE", "batch_number": "BIGINT",
	} {
		if got.Types[col] != typ {
			t.Errorf("DuckDB reads %s as %s, want %s", col, got.Types[col], typ)
		}
	}
	if len(got.Partitions) != 2 || got.Partitions[0]["rows"] != "20000" {
		t.Errorf("partitions = %v", got.Partitions)
	}

	// The manifests' sums, from the CSV, added up across the two batches.
	want := map[string]map[string]money.Amount{}
	add := func(cur, field, v string) {
		a, err := money.ParseAmount([]byte(v), 3, true)
		if err != nil {
			t.Fatalf("manifest %s %s = %q: %v", cur, field, v, err)
		}
		if want[cur] == nil {
			want[cur] = map[string]money.Amount{}
		}
		want[cur][field] += a
	}
	for _, batch := range []int64{200, 201} {
		m := e.manifest("PaySettleShopEU", batch)
		for _, c := range m.Currencies {
			for field, v := range map[string]string{"net_debit": c.NetDebit, "net_credit": c.NetCredit, "commission": c.Commission,
				"markup": c.Markup, "scheme_fees": c.SchemeFees, "interchange": c.Interchange, "net_amount": c.NetAmount,
				"total_fees": c.TotalFees, "gross_debit": c.GrossDebit, "gross_credit": c.GrossCredit} {
				add(c.Currency, field, v)
			}
		}
	}
	checked := 0
	for _, rows := range [][]map[string]string{got.Net, got.Gross} {
		for _, r := range rows {
			cur := r["currency"]
			for field, v := range r {
				if field == "currency" || field == "net_rows" || field == "gross_rows" {
					continue
				}
				if w := want[cur][field].String(); v != w {
					t.Errorf("%s %s: DuckDB %s, manifest (from the CSV) %s", cur, field, v, w)
				}
				checked++
			}
		}
	}
	if checked < 40 {
		t.Errorf("compared only %d sums", checked)
	}
}
