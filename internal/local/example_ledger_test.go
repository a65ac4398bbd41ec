package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
)

// Example_missingBatch is a gap detected, alerted once and resolved, on the local engine with a fake
// clock: batches 1, 2 and 4 of a merchant account arrive a day apart; the hourly batch check says
// nothing during the 48 h grace period, then sends one alert for batch 3, nothing on the following
// checks, and one resolution once batch 3 arrives.
func Example_missingBatch() {
	dir, _ := os.MkdirTemp("", "settle-example")
	defer os.RemoveAll(dir)
	clk := newClock() // 2024-05-07T09:00:00Z
	env, err := local.Open(filepath.Join(dir, "data"), local.Options{Clock: clk,
		Batches: ledger.Policy{Cadences: map[string]time.Duration{shop: 7 * 24 * time.Hour}}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	at := func() string { return clk.Now().UTC().Format("2006-01-02 15:04") }
	run := func(n int64) {
		var b bytes.Buffer
		if _, err := gen.Write(&b, gen.Config{Rows: 20, Seed: uint64(n), Batch: n, SettlementDate: fmt.Sprintf("2024-05-%02d", n)}); err != nil {
			panic(err)
		}
		f := filepath.Join(dir, fmt.Sprintf("batch_%d.csv", n))
		_ = os.WriteFile(f, b.Bytes(), 0o644)
		r := env.Run(ctx, f)
		fmt.Printf("%s  settle run batch_%d.csv: %s\n", at(), n, r.Status)
		if w, _ := env.GapWarning(ctx, []local.FileResult{r}); w != "" {
			fmt.Printf("%s  settle: %s\n", at(), w)
		}
	}
	sent := 0
	check := func() {
		if _, err := env.CheckBatches(ctx); err != nil {
			panic(err)
		}
		data, _ := os.ReadFile(filepath.Join(dir, "data", "notifications.jsonl"))
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(data) == 0 {
			lines = nil
		}
		if len(lines) == sent {
			fmt.Printf("%s  batch check: nothing sent\n", at())
			return
		}
		for _, l := range lines[sent:] {
			var m local.Notification
			_ = json.Unmarshal([]byte(l), &m)
			var text string
			_ = json.Unmarshal(m.Message, &text)
			fmt.Printf("%s  batch check: sent to the alert topic: %s\n", at(), m.Subject)
			for _, line := range strings.Split(text, "\n") {
				if line != "" {
					fmt.Printf("                    | %s\n", line)
				}
			}
		}
		sent = len(lines)
	}
	wait := func(d time.Duration) { clk.Sleep(ctx, d) }

	run(1)
	wait(24 * time.Hour)
	run(2)
	wait(24 * time.Hour)
	run(4)
	check()
	wait(47 * time.Hour)
	check()
	wait(time.Hour)
	check()
	check() // the schedule fires twice in the same hour
	wait(time.Hour)
	check()
	sts, _ := operatorOf(env).Batches(ctx, "")
	_ = ledger.WriteTable(os.Stdout, sts)
	run(3)
	check()
	wait(time.Hour)
	check()
	// Output:
	// 2024-05-07 09:00  settle run batch_1.csv: SUCCEEDED
	// 2024-05-08 09:00  settle run batch_2.csv: SUCCEEDED
	// 2024-05-09 09:00  settle run batch_4.csv: SUCCEEDED
	// 2024-05-09 09:00  settle: warning: these files leave gaps in the batch sequence: adyen/PaySettleShopEU batch 3 not here yet; a gap counts as missing 2d after a later batch arrived (settle batches lists them)
	// 2024-05-09 09:00  batch check: nothing sent
	// 2024-05-11 08:00  batch check: nothing sent
	// 2024-05-11 09:00  batch check: sent to the alert topic: settle: batch 3 of adyen/PaySettleShopEU missing
	//                     | Settlement batch 3 of merchant account adyen/PaySettleShopEU is missing: a later batch arrived at 2024-05-09T09:00:00Z and batch 3 did not arrive within the grace period (it counts as missing since 2024-05-11T09:00:00Z).
	//                     | What to do: ask Adyen for batch 3 of PaySettleShopEU (Customer Area, Reports, Settlement details report). If it will never come (a number Adyen skipped), acknowledge it: settle batches ack --merchant PaySettleShopEU --batch 3 --by NAME --reason WHY.
	//                     | A resolution message follows when it arrives.
	// 2024-05-11 09:00  batch check: nothing sent
	// 2024-05-11 10:00  batch check: nothing sent
	// MERCHANT ACCOUNT       BATCHES  LAST  NEWEST ARRIVED        AGE   CADENCE        GAPS       STATE
	// adyen/PaySettleShopEU  3        4     2024-05-09T09:00:00Z  2d1h  7d configured  3 missing  missing 1
	//
	// adyen/PaySettleShopEU: batch 3 is missing: ask Adyen for batch 3 of PaySettleShopEU; if it will never come, settle batches ack --merchant PaySettleShopEU --batch 3 --by NAME --reason WHY
	// 2024-05-11 10:00  settle run batch_3.csv: SUCCEEDED
	// 2024-05-11 10:00  batch check: sent to the alert topic: settle: resolved: batch 3 of adyen/PaySettleShopEU arrived
	//                     | Settlement batch 3 of merchant account adyen/PaySettleShopEU has arrived and is committed: the gap announced since 2024-05-11T09:00:00Z is closed.
	// 2024-05-11 11:00  batch check: nothing sent
}
