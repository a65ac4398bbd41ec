package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/store"
)

// The batch ledger in the processed bucket: three small objects per (provider, merchant account) under
// LedgerPrefix, in a folder of its own so no merchant account's name can collide with another's:
//
//	_ledger/<provider>/<merchant>/ledger.json   the committed batches (ledger.Ledger), derived from the manifests
//	_ledger/<provider>/<merchant>/alerts.json   what the scheduled check has announced (ledger.Alerts)
//	_ledger/<provider>/<merchant>/acks.json     operators' acknowledgements (ledger.Acks), their only copy
//
// Every change is a conditional write on the version read (If-Match, or If-None-Match for a first
// write), retried on a race: two writers of one object can never lose each other's change.

// LedgerPrefix is the folder of the batch ledgers in the processed bucket.
const LedgerPrefix = "_ledger/"

// Object names inside a merchant account's ledger folder.
const (
	LedgerObject = "ledger.json"
	AlertsObject = "alerts.json"
	AcksObject   = "acks.json"
)

// ledgerDir is the ledger folder of a merchant account, escaped like every other key.
func ledgerDir(provider, merchant string) string {
	return LedgerPrefix + escapeKey(provider) + "/" + escapeKey(merchant) + "/"
}

// LedgerKey is the ledger of a merchant account.
func LedgerKey(provider, merchant string) string { return ledgerDir(provider, merchant) + LedgerObject }

// AlertsKey is the alert state of a merchant account.
func AlertsKey(provider, merchant string) string { return ledgerDir(provider, merchant) + AlertsObject }

// AcksKey is the acknowledgements of a merchant account.
func AcksKey(provider, merchant string) string { return ledgerDir(provider, merchant) + AcksObject }

// maxLedgerRaces bounds the read-and-write-again loop of a ledger object; each lost race means another
// writer's change landed, so this is only reached under a storm of commits for one account.
const maxLedgerRaces = 32

// arrival is when in's report arrived: the raw object's Last-Modified, as the check step read it, but
// never after now (a clock behind the store's, or no arrival known, gives the commit's time).
func (s *Steps) arrival(in StepInput) time.Time {
	now := s.now().UTC()
	if in.Check != nil && !in.Check.Arrived.IsZero() && in.Check.Arrived.Before(now) {
		return in.Check.Arrived.UTC()
	}
	return now
}

// BatchOf is the ledger entry of a committed batch. A manifest written before manifests recorded the
// arrival uses modified, the manifest's own Last-Modified, instead.
func BatchOf(m *Manifest, modified time.Time) ledger.Batch {
	b := ledger.Batch{Number: m.BatchNumber, SettlementDate: m.SettlementDate, Arrived: m.Arrived.UTC(),
		Source: ledger.Source{Bucket: m.Source.Bucket, Key: m.Source.Key, ETag: m.Source.ETag}, Revision: m.Revision,
		Rows: m.Counts.DataRows}
	if b.Arrived.IsZero() {
		b.Arrived = modified.UTC()
	}
	for _, c := range m.Currencies {
		if c.NetRows == 0 && c.Payout == "" {
			continue // a gross-only currency: no net amounts
		}
		b.Currencies = append(b.Currencies, ledger.Amounts{Currency: c.Currency, Net: c.NetAmount, Payout: c.Payout})
	}
	return b
}

// recordCommit records the manifest this attempt just committed in the batch's ledger.
func (s *Steps) recordCommit(ctx context.Context, key string, body []byte) error {
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return &StorageError{Op: "record " + key + " in the ledger", Err: err.Error()}
	}
	return s.recordCommitted(ctx, key, &m)
}

// recordCommitted records a committed manifest in its batch's ledger; the ledger ignores a commit it has.
func (s *Steps) recordCommitted(ctx context.Context, key string, m *Manifest) error {
	var modified time.Time
	if m.Arrived.IsZero() {
		obj, err := s.Processed.Head(ctx, key)
		if err != nil {
			return infraError("head "+key, err)
		}
		modified = obj.Modified
	}
	changed, err := RecordBatch(ctx, s.Processed, m.Provider, m.MerchantAccount, BatchOf(m, modified))
	if err == nil && changed {
		s.logger(StepInput{Execution: m.Execution, File: m.Source}, StepWrite).InfoContext(ctx, "recorded in the batch ledger",
			"ledger", LedgerKey(m.Provider, m.MerchantAccount))
	}
	return err
}

// RecordBatch adds a committed batch to its merchant account's ledger (see ledger.Ledger.Record),
// reporting whether the ledger changed. Concurrent commits of the same account each read the ledger and
// write it back conditionally on the version read; the loser reads again, so no entry is ever lost.
func RecordBatch(ctx context.Context, b store.Bucket, provider, merchant string, batch ledger.Batch) (bool, error) {
	key := LedgerKey(provider, merchant)
	for range maxLedgerRaces {
		l, etag, err := readLedgerObject(ctx, b, key, ledger.New(provider, merchant))
		if err != nil {
			return false, err
		}
		if !l.Record(batch) {
			return false, nil
		}
		err = putLedgerObject(ctx, b, key, l, etag)
		if errors.Is(err, store.ErrPreconditionFailed) {
			continue
		}
		return err == nil, err
	}
	return false, &TransientError{Op: "update " + key, Err: fmt.Sprintf("other commits changed the ledger %d times during this update", maxLedgerRaces)}
}

// readLedgerObject reads one of the ledger's JSON objects into v and returns its ETag, or v as given and
// "" when there is none.
func readLedgerObject[T any](ctx context.Context, b store.Bucket, key string, v *T) (*T, string, error) {
	data, obj, err := b.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return v, "", nil
	}
	if err != nil {
		return nil, "", infraError("read "+key, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, "", &TransientError{Op: "read " + key, Err: "not what settle writes there (" + err.Error() + "); settle ledger --rebuild writes the ledger again from the manifests"}
	}
	return v, store.UnquoteETag(obj.ETag), nil
}

// putLedgerObject writes v as one line of JSON at key, if the object still has etag ("": none yet).
// store.ErrPreconditionFailed (wrapped) means another writer got there first.
func putLedgerObject(ctx context.Context, b store.Bucket, key string, v any, etag string) error {
	body, err := json.Marshal(v)
	if err != nil {
		return &StorageError{Op: "encode " + key, Err: err.Error()}
	}
	pre := store.Precondition{IfAbsent: true}
	if etag != "" {
		pre = store.Precondition{IfMatch: etag}
	}
	_, err = b.PutIf(ctx, key, append(body, '\n'), pre)
	if errors.Is(err, store.ErrPreconditionFailed) {
		return err
	}
	if err != nil {
		return infraError("write "+key, err)
	}
	return nil
}

// Account is one merchant account's ledger with its acknowledgements.
type Account struct {
	Ledger *ledger.Ledger
	Acks   *ledger.Acks
}

// LoadAccounts reads every merchant account's ledger and acknowledgements, sorted by provider and
// merchant account; merchant, when not empty, keeps only that account.
func LoadAccounts(ctx context.Context, b store.Bucket, merchant string) ([]Account, error) {
	objs, err := b.List(ctx, LedgerPrefix)
	if err != nil {
		return nil, infraError("list "+LedgerPrefix, err)
	}
	var out []Account
	for _, o := range objs {
		dir, ok := strings.CutSuffix(o.Key, "/"+LedgerObject)
		if !ok {
			continue
		}
		l, _, err := readLedgerObject(ctx, b, o.Key, &ledger.Ledger{})
		if err != nil {
			return nil, err
		}
		if merchant != "" && l.MerchantAccount != merchant {
			continue
		}
		acks, _, err := readLedgerObject(ctx, b, dir+"/"+AcksObject, ledger.NewAcks(l.Provider, l.MerchantAccount))
		if err != nil {
			return nil, err
		}
		out = append(out, Account{Ledger: l, Acks: acks})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Ledger, out[j].Ledger
		return a.Provider < b.Provider || a.Provider == b.Provider && a.MerchantAccount < b.MerchantAccount
	})
	return out, nil
}

// Statuses analyzes every merchant account (or only merchant) at now.
func Statuses(ctx context.Context, b store.Bucket, p ledger.Policy, merchant string, now time.Time) ([]ledger.Status, error) {
	accounts, err := LoadAccounts(ctx, b, merchant)
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Status, 0, len(accounts))
	for _, a := range accounts {
		out = append(out, ledger.Analyze(a.Ledger, a.Acks, p, now))
	}
	return out, nil
}

// Acknowledge records an operator's acknowledgement for a merchant account that has a ledger, and
// reports whether it was new.
func Acknowledge(ctx context.Context, b store.Bucket, provider, merchant string, ack ledger.Ack) (bool, error) {
	if err := ack.Check(); err != nil {
		return false, err
	}
	if _, err := b.Head(ctx, LedgerKey(provider, merchant)); errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("no batch of merchant account %s/%s is committed; settle batches lists the accounts", provider, merchant)
	} else if err != nil {
		return false, infraError("head "+LedgerKey(provider, merchant), err)
	}
	key := AcksKey(provider, merchant)
	for range maxLedgerRaces {
		acks, etag, err := readLedgerObject(ctx, b, key, ledger.NewAcks(provider, merchant))
		if err != nil {
			return false, err
		}
		if !acks.Add(ack) {
			return false, nil
		}
		err = putLedgerObject(ctx, b, key, acks, etag)
		if errors.Is(err, store.ErrPreconditionFailed) {
			continue
		}
		return err == nil, err
	}
	return false, &TransientError{Op: "update " + key, Err: "other writers kept changing the acknowledgements; try again"}
}

// RebuildResult says what a rebuild did.
type RebuildResult struct {
	Accounts  int `json:"accounts"`  // merchant accounts with committed batches
	Batches   int `json:"batches"`   // committed batches (manifests) read
	Rewritten int `json:"rewritten"` // ledgers that differed from the manifests and were written again
	Removed   int `json:"removed"`   // ledgers of accounts without any manifest, removed
}

// RebuildLedgers writes every ledger again from the manifests alone. The acknowledgements and the alert
// state are left as they are.
//
// It may run while files are committed: each account's ledger is read before its manifests are listed
// and written back only if unchanged meanwhile (If-Match). A commit writes its manifest before it
// updates the ledger, so a commit whose update came before the read is in the listing, and one whose
// update comes after it either makes the write fail (the account is rebuilt again) or lands on the
// rebuilt ledger.
func RebuildLedgers(ctx context.Context, b store.Bucket) (RebuildResult, error) {
	var res RebuildResult
	objs, err := b.List(ctx, ManifestPrefix)
	if err != nil {
		return res, infraError("list "+ManifestPrefix, err)
	}
	dirs := map[string]bool{} // _manifests/<provider>/<merchant>/
	for _, o := range objs {
		if i := strings.LastIndexByte(o.Key, '/'); i > len(ManifestPrefix) {
			dirs[o.Key[:i+1]] = true
		}
	}
	keep := map[string]bool{}
	for _, dir := range sortedKeys(dirs) {
		key, n, changed, err := rebuildAccount(ctx, b, dir)
		if err != nil {
			return res, err
		}
		if key == "" {
			continue
		}
		keep[key] = true
		res.Accounts++
		res.Batches += n
		if changed {
			res.Rewritten++
		}
	}
	ledgers, err := b.List(ctx, LedgerPrefix)
	if err != nil {
		return res, infraError("list "+LedgerPrefix, err)
	}
	for _, o := range ledgers {
		if !strings.HasSuffix(o.Key, "/"+LedgerObject) || keep[o.Key] {
			continue
		}
		dir := ManifestPrefix + strings.TrimSuffix(strings.TrimPrefix(o.Key, LedgerPrefix), LedgerObject)
		if m, err := b.List(ctx, dir); err != nil || len(m) > 0 {
			continue // a first commit of the account since the listing: its ledger stays
		}
		err := b.DeleteIf(ctx, o.Key, store.UnquoteETag(o.ETag))
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrPreconditionFailed) {
			return res, infraError("remove "+o.Key, err)
		}
		if err == nil {
			res.Removed++
		}
	}
	return res, nil
}

// rebuildAccount writes one account's ledger from the manifests under dir (_manifests/<provider>/<merchant>/);
// it returns the ledger's key ("" when dir holds no manifest), the number of batches and whether the
// ledger was written.
func rebuildAccount(ctx context.Context, b store.Bucket, dir string) (string, int, bool, error) {
	// The ledger folder has the manifests' escaped names: the same escaping builds both keys.
	key := LedgerPrefix + strings.TrimPrefix(dir, ManifestPrefix) + LedgerObject
	for range maxLedgerRaces {
		// The ledger is read before the manifests are listed (see RebuildLedgers).
		cur, etag, err := readRaw(ctx, b, key)
		if err != nil {
			return "", 0, false, err
		}
		objs, err := b.List(ctx, dir)
		if err != nil {
			return "", 0, false, infraError("list "+dir, err)
		}
		var l *ledger.Ledger
		for _, o := range objs {
			if !strings.HasSuffix(o.Key, ".json") || strings.Contains(o.Key[len(dir):], "/") {
				continue
			}
			data, obj, err := b.Get(ctx, o.Key)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return "", 0, false, infraError("read "+o.Key, err)
			}
			var m Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				return "", 0, false, &TransientError{Op: "read " + o.Key, Err: "not a manifest: " + err.Error()}
			}
			if l == nil {
				l = ledger.New(m.Provider, m.MerchantAccount)
			}
			l.Record(BatchOf(&m, obj.Modified))
		}
		if l == nil {
			return "", 0, false, nil
		}
		body, err := json.Marshal(l)
		if err != nil {
			return "", 0, false, &StorageError{Op: "encode " + key, Err: err.Error()}
		}
		if bytes.Equal(bytes.TrimSpace(cur), body) {
			return key, len(l.Batches), false, nil
		}
		err = putLedgerObject(ctx, b, key, l, etag)
		if errors.Is(err, store.ErrPreconditionFailed) {
			continue
		}
		return key, len(l.Batches), err == nil, err
	}
	return "", 0, false, &TransientError{Op: "rebuild " + key, Err: "commits kept changing the ledger; run the rebuild again"}
}

// readRaw reads an object's bytes and ETag; nil and "" when there is none.
func readRaw(ctx context.Context, b store.Bucket, key string) ([]byte, string, error) {
	data, obj, err := b.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", infraError("read "+key, err)
	}
	return data, store.UnquoteETag(obj.ETag), nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
