package gen

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HistoryConfig describes a history of payable batches: the same batch sequence for each of Merchants
// merchant accounts, one batch a day.
type HistoryConfig struct {
	// Merchants is how many merchant accounts (default 1). With one, it is Merchant (default
	// PaySettleShopEU); with more, PaySettleShop001, PaySettleShop002, …
	Merchants int
	Merchant  string
	// Batches are the batch numbers each account gets (ParseSequence): numbers left out are the gaps.
	Batches []int64
	// Start is the settlement date of the sequence's first number, YYYY-MM-DD (default 2024-05-01). Batch
	// n settles n−first days later, so a skipped number also skips its day.
	Start string
	// Seed draws the arrival times: the day after the settlement date, 06:00 UTC plus up to six hours.
	Seed uint64
}

// Planned is one batch of a history: which report to generate and when it arrives.
type Planned struct {
	Merchant       string
	Batch          int64
	SettlementDate string
	Arrival        time.Time
}

// History lists a history's batches in arrival order. The same config gives the same history.
func History(cfg HistoryConfig) ([]Planned, error) {
	if cfg.Merchants <= 0 {
		cfg.Merchants = 1
	}
	if cfg.Start == "" {
		cfg.Start = "2024-05-01"
	}
	start, err := time.Parse(time.DateOnly, cfg.Start)
	if err != nil {
		return nil, fmt.Errorf("start date %q: want YYYY-MM-DD", cfg.Start)
	}
	if len(cfg.Batches) == 0 {
		return nil, fmt.Errorf("a history needs batch numbers")
	}
	first := cfg.Batches[0]
	var out []Planned
	for m := 1; m <= cfg.Merchants; m++ {
		name := cfg.Merchant
		switch {
		case cfg.Merchants > 1:
			name = fmt.Sprintf("PaySettleShop%03d", m)
		case name == "":
			name = Config{}.withDefaults().Merchant
		}
		rng := rand.New(rand.NewPCG(cfg.Seed+uint64(m), uint64(m)^0x9e3779b97f4a7c15))
		for _, n := range cfg.Batches {
			day := start.AddDate(0, 0, int(n-first))
			arrival := day.Add(30*time.Hour + time.Duration(rng.IntN(6*3600))*time.Second)
			out = append(out, Planned{Merchant: name, Batch: n, SettlementDate: day.Format(time.DateOnly), Arrival: arrival})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Arrival.Before(out[j].Arrival) })
	return out, nil
}

// FileName is the report file name of a planned batch.
func (p Planned) FileName() string {
	return fmt.Sprintf("%s_batch_%d.csv", p.Merchant, p.Batch)
}

// ParseSequence reads batch numbers written as "1-5,7,9-12": ranges and single numbers, ascending, each
// at least 1. A run of at most 100,000 numbers is accepted.
func ParseSequence(s string) ([]int64, error) {
	var out []int64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseInt(strings.TrimSpace(lo), 10, 64)
		if err != nil || a < 1 {
			return nil, fmt.Errorf("batch sequence %q: %q is not a batch number (1 or more)", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(strings.TrimSpace(hi), 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("batch sequence %q: %q is not a range FIRST-LAST with FIRST <= LAST", s, part)
			}
		}
		if len(out) > 0 && a <= out[len(out)-1] {
			return nil, fmt.Errorf("batch sequence %q: numbers must ascend (%d after %d)", s, a, out[len(out)-1])
		}
		if int64(len(out))+b-a >= 100_000 {
			return nil, fmt.Errorf("batch sequence %q: more than 100000 batches", s)
		}
		for n := a; n <= b; n++ {
			out = append(out, n)
		}
	}
	return out, nil
}
