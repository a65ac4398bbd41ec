// Package ledger is the batch ledger of each merchant account: which payable batches are committed, which
// numbers of the sequence are missing, and whether the account has gone quiet for longer than its usual
// cadence. Providers number each merchant account's batches sequentially, so a gap in the sequence is a
// report that never arrived; this package finds it, decides when it counts as missing (after a grace
// period: files arrive out of order), records operators' acknowledgements, and keeps the state of the
// alerts about it so that each one is sent once and resolved once.
//
// It is the domain only: no storage, no AWS, no clock of its own (every function takes "now"). The
// workflow package stores ledgers in the processed bucket, updates them in the Write step and runs the
// scheduled check; the CLI prints what Analyze finds.
package ledger

import (
	"sort"
	"time"
)

// Version is the ledger format's version.
const Version = 1

// Ledger is the committed batches of one (provider, merchant account), in batch number order. It is
// derived from the manifests alone, so it can always be rebuilt and is never the only copy of anything.
type Ledger struct {
	Version         int     `json:"version"`
	Provider        string  `json:"provider"`
	MerchantAccount string  `json:"merchant_account"`
	Batches         []Batch `json:"batches"`
}

// Batch is one committed batch.
type Batch struct {
	Number         int64  `json:"batch_number"`
	SettlementDate string `json:"settlement_date"`
	// Arrived is when the report arrived (the raw object's Last-Modified, never later than its commit).
	Arrived time.Time `json:"arrived"`
	Source  Source    `json:"source"`
	// Revision counts the replaces of the batch: 0 for its first commit, one more for each replace. An
	// update carrying an older revision than the entry's is stale and changes nothing.
	Revision   int64     `json:"revision,omitempty"`
	Rows       int64     `json:"rows"`
	Currencies []Amounts `json:"currencies,omitempty"`
}

// Source is the report a batch was committed from.
type Source struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	ETag   string `json:"etag"`
}

// Amounts are a batch's totals in one net currency, as exact decimal strings (the manifest's).
type Amounts struct {
	Currency string `json:"currency"`
	Net      string `json:"net"`
	Payout   string `json:"payout"`
}

// New returns the empty ledger of a merchant account.
func New(provider, merchant string) *Ledger {
	return &Ledger{Version: Version, Provider: provider, MerchantAccount: merchant, Batches: []Batch{}}
}

// Record adds a committed batch, or replaces the entry of its number with a newer commit, and reports
// whether the ledger changed. It is idempotent: the same commit again (same source ETag and revision)
// changes nothing, and so does a commit older than the entry's (a lower revision), which a writer that
// was overtaken by a replace may still try to record.
func (l *Ledger) Record(b Batch) bool {
	b.Arrived = b.Arrived.UTC()
	i := sort.Search(len(l.Batches), func(i int) bool { return l.Batches[i].Number >= b.Number })
	if i < len(l.Batches) && l.Batches[i].Number == b.Number {
		cur := l.Batches[i]
		if b.Revision < cur.Revision || b.Revision == cur.Revision && b.Source.ETag == cur.Source.ETag {
			return false
		}
		l.Batches[i] = b
		return true
	}
	l.Batches = append(l.Batches, Batch{})
	copy(l.Batches[i+1:], l.Batches[i:])
	l.Batches[i] = b
	return true
}

// Find returns the entry of a batch number, or nil.
func (l *Ledger) Find(number int64) *Batch {
	i := sort.Search(len(l.Batches), func(i int) bool { return l.Batches[i].Number >= number })
	if i < len(l.Batches) && l.Batches[i].Number == number {
		return &l.Batches[i]
	}
	return nil
}
