package ledger

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Acks are an operator's acknowledgements for one merchant account: batch numbers that will never come
// (numbers the provider skipped), or that the account is closed. They are kept apart from the ledger,
// which is derived from the manifests and may be rebuilt at any time; acknowledgements are decisions,
// and this is their only copy.
type Acks struct {
	Version         int    `json:"version"`
	Provider        string `json:"provider"`
	MerchantAccount string `json:"merchant_account"`
	Acks            []Ack  `json:"acks"`
}

// Ack is one acknowledgement: the batches First..Last will never come, or (Closed) the account gets no
// more batches. By and Reason say who decided and why, At when.
type Ack struct {
	First  int64     `json:"first,omitempty"`
	Last   int64     `json:"last,omitempty"`
	Closed bool      `json:"closed,omitempty"`
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Check says what is wrong with an acknowledgement, as a sentence for the person who wrote it.
func (a Ack) Check() error {
	switch {
	case strings.TrimSpace(a.By) == "":
		return errors.New("an acknowledgement needs who decides it (--by)")
	case strings.TrimSpace(a.Reason) == "":
		return errors.New("an acknowledgement needs a reason (--reason), such as the provider's answer")
	case a.Closed && (a.First != 0 || a.Last != 0):
		return errors.New("acknowledge either batch numbers or a closed account, not both")
	case !a.Closed && (a.First < 1 || a.Last < a.First):
		return fmt.Errorf("batches %d-%d: name batch numbers from 1, the first not after the last", a.First, a.Last)
	case a.At.IsZero():
		return errors.New("an acknowledgement needs its time")
	}
	return nil
}

// Numbers writes what is acknowledged: "7", "7-9" or "closed".
func (a Ack) Numbers() string {
	if a.Closed {
		return "closed"
	}
	return rangeText(a.First, a.Last)
}

// NewAcks returns the empty acknowledgements of a merchant account.
func NewAcks(provider, merchant string) *Acks {
	return &Acks{Version: Version, Provider: provider, MerchantAccount: merchant, Acks: []Ack{}}
}

// Add records an acknowledgement and reports whether anything changed: the same acknowledgement by the
// same person for the same reason again (a command run twice) is recorded once.
func (a *Acks) Add(ack Ack) bool {
	ack.At = ack.At.UTC()
	for _, x := range a.Acks {
		if x.First == ack.First && x.Last == ack.Last && x.Closed == ack.Closed && x.By == ack.By && x.Reason == ack.Reason {
			return false
		}
	}
	a.Acks = append(a.Acks, ack)
	return true
}

// Environment variables of the batch policy, read by the scheduled check and the CLI alike.
const (
	EnvGraceHours = "BATCH_GRACE_HOURS"
	EnvCadences   = "BATCH_CADENCES"
)

// PolicyFromEnv reads the batch policy from getenv:
//
//	BATCH_GRACE_HOURS  hours a gap may stay open, and an account stay quiet past its cadence (default 48)
//	BATCH_CADENCES     configured cadences by merchant account, e.g. "ShopEU=24h,ShopUS=7d"
func PolicyFromEnv(getenv func(string) string) (Policy, error) {
	var p Policy
	if v := strings.TrimSpace(getenv(EnvGraceHours)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Policy{}, fmt.Errorf("%s=%q: want a whole number of hours >= 1", EnvGraceHours, v)
		}
		p.Grace = time.Duration(n) * time.Hour
	}
	c, err := ParseCadences(getenv(EnvCadences))
	if err != nil {
		return Policy{}, fmt.Errorf("%s: %w", EnvCadences, err)
	}
	p.Cadences = c
	return p, nil
}

// ParseCadences reads "MERCHANT=DURATION,…" (durations like 24h, 7d, 36h30m) into cadences by merchant
// account.
func ParseCadences(s string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		m, d, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || strings.TrimSpace(m) == "" {
			return nil, fmt.Errorf("%q: want MERCHANT=DURATION, e.g. ShopEU=24h", part)
		}
		dur, err := ParseDuration(strings.TrimSpace(d))
		if err != nil || dur < time.Hour {
			return nil, fmt.Errorf("%q: the cadence must be a duration of at least 1h, such as 24h or 7d", part)
		}
		out[strings.TrimSpace(m)] = dur
	}
	return out, nil
}

// ParseDuration is time.ParseDuration that also takes whole days: 7d.
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
