package local_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/workflow"
)

// icebirdModules is the folder holding icebird.
func icebirdModules(t *testing.T) string {
	return nodePackage(t, "icebird", "icebird@0.3.1, the independent Iceberg reader")
}

// netTotals is, per net currency, the rows and the sum of net_amount in thousandths, of manifests.
func netTotals(t *testing.T, ms []workflow.Manifest) (int64, map[string][2]string) {
	t.Helper()
	rows := int64(0)
	sums := map[string]*big.Rat{}
	counts := map[string]int64{}
	for _, m := range ms {
		rows += m.Counts.RowsWritten
		for _, c := range m.Currencies {
			if c.NetRows == 0 {
				continue
			}
			v, ok := new(big.Rat).SetString(c.NetAmount)
			if !ok {
				t.Fatalf("net amount %q", c.NetAmount)
			}
			if sums[c.Currency] == nil {
				sums[c.Currency] = new(big.Rat)
			}
			sums[c.Currency].Add(sums[c.Currency], v)
			counts[c.Currency] += c.NetRows
		}
	}
	out := map[string][2]string{}
	for cur, s := range sums {
		out[cur] = [2]string{fmt.Sprint(counts[cur]), new(big.Rat).Mul(s, big.NewRat(1000, 1)).FloatString(0)}
	}
	return rows, out
}

// TestIcebirdReadsTheTable: an Iceberg reader written by others (npm icebird) reads the table a run left,
// at the version before a replace and at the current one, and its rows and per-currency net sums equal
// the manifests' at those moments, to the thousandth.
func TestIcebirdReadsTheTable(t *testing.T) {
	modules := icebirdModules(t)
	e := newEnv(t, workflow.Config{})
	want(t, e.run(e.report("batch5.csv", gen.Config{Rows: 300, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"})), local.Succeeded)
	want(t, e.run(e.report("batch6.csv", gen.Config{Rows: 250, Seed: 7, Batch: 6, SettlementDate: "2024-05-04"})), local.Succeeded)
	before := []workflow.Manifest{e.manifest("PaySettleShopEU", 5), e.manifest("PaySettleShopEU", 6)}
	tab := e.Steps.Table.(*icetable.Table)
	_, closed, err := tab.Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	e.replace(e.report("batch5-regenerated.csv", gen.Config{Rows: 310, Seed: 6, Batch: 5, SettlementDate: "2024-05-03"}), "replace-batch5")
	after := []workflow.Manifest{e.manifest("PaySettleShopEU", 5), e.manifest("PaySettleShopEU", 6)}
	_, current, err := tab.Current(t.Context())
	if err != nil || current != closed+1 {
		t.Fatalf("the replace committed version %d (%v), want %d: one snapshot", current, err, closed+1)
	}

	root := filepath.Join(e.dir, "processed")
	srv := httptest.NewServer(avroAsNull(http.FileServer(http.Dir(root))))
	defer srv.Close()
	files := []string{fmt.Sprintf("v%d.metadata.json", closed), fmt.Sprintf("v%d.metadata.json", current)}
	cmd := exec.Command("node", "../../scripts/icebird-check.mjs", modules, srv.URL+"/"+icetable.TablePrefix, tab.Home.Location, files[0], files[1])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("icebird-check: %v\n%s", err, stderr.String())
	}
	var got map[string]struct {
		Rows     int64                     `json:"rows"`
		Net      map[string]map[string]any `json:"net"`
		Snapshot string                    `json:"snapshot"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for i, ms := range [][]workflow.Manifest{before, after} {
		rows, sums := netTotals(t, ms)
		g := got[files[i]]
		if g.Rows != rows {
			t.Errorf("%s: icebird reads %d rows, the manifests commit %d", files[i], g.Rows, rows)
		}
		for cur, w := range sums {
			c := g.Net[cur]
			if fmt.Sprint(c["rows"]) != w[0] || fmt.Sprint(c["net_amount"]) != w[1] {
				t.Errorf("%s %s: icebird reads %v rows summing to %v thousandths; the manifests say %s rows, %s", files[i], cur, c["rows"], c["net_amount"], w[0], w[1])
			}
		}
		if len(g.Net) != len(sums) {
			t.Errorf("%s: icebird reads currencies %v, the manifests %v", files[i], g.Net, sums)
		}
		t.Logf("%s: %d rows, %d currencies", files[i], g.Rows, len(g.Net))
	}
}

// avroAsNull serves the table's Avro files (manifests, manifest lists) re-encoded without compression:
// icebird 0.3.1 cannot inflate the deflate blocks iceberg-go writes. The records are unchanged.
func avroAsNull(files http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, ".avro") {
			files.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		files.ServeHTTP(rec, &http.Request{Method: http.MethodGet, URL: r.URL, Header: http.Header{}})
		if rec.Code != http.StatusOK {
			w.WriteHeader(rec.Code)
			return
		}
		body, err := inflateAvro(rec.Body.Bytes())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(body))
	})
}

// inflateAvro rewrites an Avro object container file with the deflate codec as one with the null codec.
func inflateAvro(in []byte) ([]byte, error) {
	r := bufio.NewReader(bytes.NewReader(in))
	var out bytes.Buffer
	magic := make([]byte, 4)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "Obj\x01" {
		return nil, errors.New("not an Avro container")
	}
	out.Write(magic)
	meta := map[string][]byte{}
	var order []string
	for {
		n, err := binary.ReadVarint(r)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		if n < 0 {
			n = -n
			if _, err := binary.ReadVarint(r); err != nil { // the block's size
				return nil, err
			}
		}
		for range n {
			k, err := readBytes(r)
			if err != nil {
				return nil, err
			}
			v, err := readBytes(r)
			if err != nil {
				return nil, err
			}
			meta[string(k)] = v
			order = append(order, string(k))
		}
	}
	codec := string(meta["avro.codec"])
	meta["avro.codec"] = []byte("null")
	if codec == "" {
		order = append(order, "avro.codec")
	}
	writeLong(&out, int64(len(order)))
	for _, k := range order {
		writeBytes(&out, []byte(k))
		writeBytes(&out, meta[k])
	}
	writeLong(&out, 0)
	sync := make([]byte, 16)
	if _, err := io.ReadFull(r, sync); err != nil {
		return nil, err
	}
	out.Write(sync)
	for {
		count, err := binary.ReadVarint(r)
		if errors.Is(err, io.EOF) {
			return out.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
		block, err := readBytes(r)
		if err != nil {
			return nil, err
		}
		if codec == "deflate" {
			if block, err = io.ReadAll(flate.NewReader(bytes.NewReader(block))); err != nil {
				return nil, err
			}
		} else if codec != "null" && codec != "" {
			return nil, fmt.Errorf("avro codec %q", codec)
		}
		writeLong(&out, count)
		writeBytes(&out, block)
		if _, err := io.ReadFull(r, sync); err != nil {
			return nil, err
		}
		out.Write(sync)
	}
}

func readBytes(r *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadVarint(r)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

func writeLong(w *bytes.Buffer, v int64) {
	w.Write(binary.AppendVarint(nil, v))
}

func writeBytes(w *bytes.Buffer, b []byte) {
	writeLong(w, int64(len(b)))
	w.Write(b)
}
