package local_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/money"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/testkit/proof"
	"github.com/paysettle/settle/internal/workflow"
)

// nodePackage returns the folder holding the npm package pkg (a path under node_modules):
// SETTLE_NODE_MODULES, which .ci/run sets after installing it. Without it the test is skipped locally,
// and fails in CI; what says what the package is and which version .ci/run installs.
func nodePackage(t *testing.T, pkg, what string) string {
	dir := os.Getenv("SETTLE_NODE_MODULES")
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(pkg), "package.json")); err == nil {
			return dir
		}
	}
	proof.Missing(t, "SETTLE_NODE_MODULES=%q does not hold %s; .ci/run installs it", dir, what)
	return ""
}

// nodeModules returns the folder holding DuckDB's Node API.
func nodeModules(t *testing.T) string {
	return nodePackage(t, "@duckdb/node-api", "@duckdb/node-api@1.5.6-r.1, which the DuckDB cross-check needs")
}

// TestDuckDBReadsTheOutput: an independent reader (DuckDB, hive_partitioning=true) sees exact DECIMAL and
// UTC TIMESTAMP columns and a DATE partition, its per-currency sums equal the ones the pipeline
// computed from the CSV (the manifests), to the last digit, and every column's count, sum and extremes
// equal what the pipeline's own Parquet reader gets: both read the same values, whatever the encodings.
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
		Types      map[string]string             `json:"types"`
		Net        []map[string]string           `json:"net"`
		Gross      []map[string]string           `json:"gross"`
		Partitions []map[string]string           `json:"partitions"`
		Columns    map[string]map[string]*string `json:"columns"`
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

	// Every column, as the pipeline's own reader sees it, adds up to what DuckDB sees.
	files, err := filepath.Glob(filepath.Join(e.dir, "processed", "settlement_lines", "*", "*.parquet"))
	if err != nil || len(files) != 2 {
		t.Fatalf("output files %v (%v)", files, err)
	}
	mine := columnSummaries(t, files, got.Types)
	if len(got.Columns) != len(mine) || len(mine) < 30 {
		t.Errorf("DuckDB summed %d columns, the Parquet reader %d", len(got.Columns), len(mine))
	}
	for name, m := range mine {
		for what, w := range m {
			var g string
			if p := got.Columns[name][what]; p != nil {
				g = *p
			}
			if g != w {
				t.Errorf("%s %s: DuckDB %q, the Parquet reader %q", name, what, g, w)
			}
		}
	}
}

// columnSummaries reads Parquet files with the pipeline's reader (parquetfile.Dump) and returns, for each
// column, the count of its values, their sum (of byte lengths for strings, of microseconds since the
// epoch for timestamps) and their extremes, as duckdb-check.js writes them ("" for none). types are
// DuckDB's column types, which give the decimals' scales.
func columnSummaries(t *testing.T, files []string, types map[string]string) map[string]map[string]string {
	t.Helper()
	type acc struct {
		count    int64
		sum      big.Int
		min, max *big.Int // numbers
		lo, hi   *string  // strings
	}
	accs := map[string]*acc{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		err = parquetfile.Dump(bytes.NewReader(data), nil, func(line []byte) error {
			var row map[string]any
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.UseNumber()
			if err := dec.Decode(&row); err != nil {
				return err
			}
			for name, v := range row {
				a := accs[name]
				if a == nil {
					a = &acc{}
					accs[name] = a
				}
				if v == nil {
					continue
				}
				a.count++
				var n *big.Int
				switch typ := types[name]; {
				case typ == "VARCHAR":
					s := v.(string)
					a.sum.Add(&a.sum, big.NewInt(int64(len(s))))
					if a.lo == nil || s < *a.lo {
						a.lo = &s
					}
					if a.hi == nil || s > *a.hi {
						a.hi = &s
					}
					continue
				case strings.HasPrefix(typ, "TIMESTAMP"):
					ts, err := time.Parse(time.RFC3339Nano, v.(string))
					if err != nil {
						return err
					}
					n = big.NewInt(ts.UnixMicro())
				case strings.HasPrefix(typ, "DECIMAL"):
					var ok bool
					if n, ok = new(big.Int).SetString(strings.Replace(v.(string), ".", "", 1), 10); !ok {
						return fmt.Errorf("%s: %q is not a decimal", name, v)
					}
				default:
					var ok bool
					if n, ok = new(big.Int).SetString(string(v.(json.Number)), 10); !ok {
						return fmt.Errorf("%s: %v is not an integer", name, v)
					}
				}
				a.sum.Add(&a.sum, n)
				if a.min == nil || n.Cmp(a.min) < 0 {
					a.min = n
				}
				if a.max == nil || n.Cmp(a.max) > 0 {
					a.max = n
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]map[string]string{}
	for name, a := range accs {
		scale := 0
		if _, err := fmt.Sscanf(types[name], "DECIMAL(%d,%d)", new(int), &scale); err != nil {
			scale = 0
		}
		text := func(n *big.Int) string {
			if n == nil {
				return ""
			}
			s := new(big.Int).Abs(n).String()
			if scale > 0 {
				s = strings.Repeat("0", max(0, scale+1-len(s))) + s
				s = s[:len(s)-scale] + "." + s[len(s)-scale:]
			}
			if n.Sign() < 0 {
				s = "-" + s
			}
			return s
		}
		m := map[string]string{"count": fmt.Sprint(a.count)}
		if a.count > 0 {
			m["sum"] = text(&a.sum)
		} else {
			m["sum"] = ""
		}
		if types[name] == "VARCHAR" {
			if a.lo != nil {
				m["min"], m["max"] = *a.lo, *a.hi
			} else {
				m["min"], m["max"] = "", ""
			}
		} else {
			m["min"], m["max"] = text(a.min), text(a.max)
		}
		out[name] = m
	}
	return out
}
