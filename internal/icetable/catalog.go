package icetable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// ErrNoTable means no version of the table was committed yet.
var ErrNoTable = errors.New("the Iceberg table has no committed version yet")

// Table is settlement_lines' Iceberg table: its files in a bucket, its current metadata named by a
// catalog.
type Table struct {
	Home workflow.TableHome
	// Wait is how a committer that lost the swap waits before it reads the table again (nil: a timer).
	Wait func(ctx context.Context, d time.Duration) error

	// last is the newest version this Table read or wrote, parsed: a commit's metadata is most of its
	// cost (a JSON document growing with the snapshots kept), and a warm writer's next commit most often
	// builds on its own last one.
	mu   sync.Mutex
	last struct {
		at   workflow.TablePointer
		meta table.Metadata
	}
}

// Open is the table in the processed bucket, at TablePrefix.
func Open(processed store.Bucket) *Table {
	return In(workflow.ProcessedTable(processed, LocationOf(processed)))
}

// In is the table at home.
func In(home workflow.TableHome) *Table { return &Table{Home: home} }

// For is In as the write step takes it.
func For(home workflow.TableHome) workflow.Table { return In(home) }

// ReaderIn is In as the scheduled consistency check takes it.
func ReaderIn(home workflow.TableHome) workflow.TableReader { return In(home) }

// ReaderFor is Open as the consistency check takes it.
func ReaderFor(processed store.Bucket) workflow.TableReader { return Open(processed) }

// LocationOf is the URL of TablePrefix in bucket: a file URL for a folder, s3:// for a bucket.
func LocationOf(bucket store.Bucket) string {
	if d, ok := bucket.(interface{ Root() string }); ok {
		abs, err := filepath.Abs(d.Root())
		if err != nil {
			abs = d.Root()
		}
		return "file://" + filepath.ToSlash(abs) + "/" + TablePrefix
	}
	return "s3://" + bucket.Name() + "/" + TablePrefix
}

// Identifier is the table's name in catalogs.
var Identifier = table.Identifier{Namespace, "settlement_lines"}

// metadataFile is the name, under the table, of its metadata at version in the file-system convention.
func metadataFile(version int) string { return fmt.Sprintf("metadata/v%d.metadata.json", version) }

const hintFile = "metadata/version-hint.text"

// url is the URL of the table's file named relative to its root.
func (t *Table) url(file string) string { return t.Home.Location + "/" + file }

func (t *Table) catalog() workflow.TableCatalog {
	if t.Home.Catalog != nil {
		return t.Home.Catalog
	}
	return fileCatalog{t.Home}
}

func (t *Table) io(ctx context.Context) *bucketIO {
	return &bucketIO{ctx: ctx, home: t.Home}
}

func (t *Table) fs(ctx context.Context) (icebergio.IO, error) { return t.io(ctx), nil }

// Current is the table as of its latest commit, and that commit's version number; ErrNoTable when there
// is none.
func (t *Table) Current(ctx context.Context) (*table.Table, int, error) {
	p, err := t.catalog().Load(ctx)
	if err != nil {
		return nil, 0, err
	}
	if p.Version == 0 {
		return nil, 0, ErrNoTable
	}
	tbl, err := t.at(ctx, p)
	return tbl, p.Version, err
}

// AtVersion is the table as its commit number version left it, in the file-system convention (a
// catalog that names its metadata otherwise keeps only the current pointer).
func (t *Table) AtVersion(ctx context.Context, version int) (*table.Table, error) {
	return t.at(ctx, workflow.TablePointer{Version: version, Key: t.Home.Key(metadataFile(version))})
}

// at is the table as the metadata p names left it.
func (t *Table) at(ctx context.Context, p workflow.TablePointer) (*table.Table, error) {
	t.mu.Lock()
	cached := t.last
	t.mu.Unlock()
	meta := cached.meta
	if cached.at.Key != p.Key || meta == nil {
		body, _, err := t.Home.Bucket.Get(ctx, p.Key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p.Key, err)
		}
		if meta, err = table.ParseMetadataBytes(body); err != nil {
			return nil, fmt.Errorf("read %s: %w", p.Key, err)
		}
		t.remember(p, meta)
	}
	return table.New(Identifier, meta, t.keyURL(p.Key), t.fs, &swap{t: t, at: p, base: meta}), nil
}

// keyURL is the URL of the table's object key.
func (t *Table) keyURL(key string) string { return t.io(context.Background()).url(key) }

func (t *Table) remember(p workflow.TablePointer, meta table.Metadata) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.Version >= t.last.at.Version {
		t.last.at, t.last.meta = p, meta
	}
}

// fileCatalog is the file-system convention of Iceberg's tables, made safe on object stores: version N's
// metadata is metadata/vN.metadata.json, written only if absent, so that of two commits building on
// version N exactly one writes N+1.
type fileCatalog struct{ home workflow.TableHome }

// Load finds the newest vN.metadata.json: from the version hint (written after each commit, so at most
// a few behind) upwards, or from a listing when the hint is missing or unreadable.
func (c fileCatalog) Load(ctx context.Context) (workflow.TablePointer, error) {
	b := c.home.Bucket
	v := 0
	if body, _, err := b.Get(ctx, c.home.Key(hintFile)); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(body))); err == nil && n > 0 {
			v = n
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return workflow.TablePointer{}, err
	}
	if v == 0 {
		objs, err := b.List(ctx, c.home.Key("metadata/v"))
		if err != nil {
			return workflow.TablePointer{}, err
		}
		for _, o := range objs {
			name := strings.TrimSuffix(strings.TrimPrefix(path.Base(o.Key), "v"), ".metadata.json")
			if n, err := strconv.Atoi(name); err == nil && n > v {
				v = n
			}
		}
	}
	for {
		_, err := b.Head(ctx, c.home.Key(metadataFile(v+1)))
		if errors.Is(err, store.ErrNotFound) {
			return workflow.TablePointer{Version: v, Key: c.home.Key(metadataFile(v))}, nil
		}
		if err != nil {
			return workflow.TablePointer{}, err
		}
		v++
	}
}

// Swap writes metadata as version cur.Version+1, only if that version does not exist yet.
func (c fileCatalog) Swap(ctx context.Context, cur workflow.TablePointer, metadata []byte) (workflow.TablePointer, error) {
	next := workflow.TablePointer{Version: cur.Version + 1, Key: c.home.Key(metadataFile(cur.Version + 1))}
	_, err := c.home.Bucket.PutIf(ctx, next.Key, metadata, store.Precondition{IfAbsent: true})
	if errors.Is(err, store.ErrPreconditionFailed) {
		return next, fmt.Errorf("%w: another commit wrote version %d first", workflow.ErrLostSwap, next.Version)
	}
	if err != nil {
		return next, err
	}
	// The hint only saves readers a listing: a lost update leaves it behind, never ahead.
	_, _ = c.home.Bucket.Put(ctx, c.home.Key(hintFile), []byte(strconv.Itoa(next.Version)))
	return next, nil
}

// swap is the catalog of one attempt: it commits updates on the version the attempt read, as the next
// version, or fails with table.ErrCommitFailed when another commit swapped first.
type swap struct {
	t    *Table
	at   workflow.TablePointer
	base table.Metadata
}

func (s *swap) LoadTable(ctx context.Context, _ table.Identifier) (*table.Table, error) {
	tbl, _, err := s.t.Current(ctx)
	return tbl, err
}

func (s *swap) CommitTable(ctx context.Context, _ table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	for _, r := range reqs {
		if err := r.Validate(s.base); err != nil {
			return nil, "", fmt.Errorf("%w: %w", table.ErrCommitFailed, err)
		}
	}
	var baseURL string
	if s.at.Version > 0 {
		baseURL = s.t.keyURL(s.at.Key)
	}
	next, err := table.UpdateTableMetadata(s.base, updates, baseURL)
	if err != nil {
		return nil, "", err
	}
	p, err := s.t.install(ctx, s.at, next)
	if err != nil {
		return nil, "", err
	}
	return next, s.t.keyURL(p.Key), nil
}

// install makes meta the version after cur through the catalog's compare-and-swap, which every change
// of the table goes through.
func (t *Table) install(ctx context.Context, cur workflow.TablePointer, meta table.Metadata) (workflow.TablePointer, error) {
	body, err := json.Marshal(meta)
	if err != nil {
		return cur, err
	}
	next, err := t.catalog().Swap(ctx, cur, body)
	if errors.Is(err, workflow.ErrLostSwap) {
		return cur, fmt.Errorf("%w: %w", table.ErrCommitFailed, err)
	}
	if err != nil {
		return cur, err
	}
	t.remember(next, meta)
	return next, nil
}

// Properties of a new table. Manifest merging keeps the manifest list short however many batches are
// committed (each append would otherwise add a manifest that every later commit lists); the retention
// properties are what Maintain applies by default.
func newProperties() iceberg.Properties {
	return iceberg.Properties{
		table.ManifestMergeEnabledKey:          "true",
		"format-version":                       "2",
		"history.expire.min-snapshots-to-keep": "1",
		"history.expire.max-snapshot-age-ms":   strconv.FormatInt(DefaultRetention.Milliseconds(), 10),
	}
}

// currentOrNew is Current, creating the table (its version 1) when nothing was committed yet.
func (t *Table) currentOrNew(ctx context.Context) (*table.Table, int, error) {
	p, err := t.catalog().Load(ctx)
	if err != nil {
		return nil, 0, err
	}
	if p.Version == 0 {
		if err := t.create(ctx, p); err != nil {
			return nil, 0, err
		}
		return t.Current(ctx)
	}
	tbl, err := t.at(ctx, p)
	return tbl, p.Version, err
}

// create commits version 1, an empty table, unless another committer did it first.
func (t *Table) create(ctx context.Context, cur workflow.TablePointer) error {
	sc, err := Schema()
	if err != nil {
		return err
	}
	spec, err := partitionSpec(sc)
	if err != nil {
		return err
	}
	meta, err := table.NewMetadata(sc, &spec, table.UnsortedSortOrder, t.Home.Location, newProperties())
	if err != nil {
		return err
	}
	if _, err := t.install(ctx, cur, meta); err != nil && !errors.Is(err, table.ErrCommitFailed) {
		return err
	}
	return nil
}

// DefaultRetention is how long a snapshot stays readable (time travel) before maintenance expires it:
// 400 days, so that a year-end audit reaches the previous year's close.
const DefaultRetention = 400 * 24 * time.Hour

// DefaultOrphanAge is how old an unreferenced data file must be before maintenance deletes it: older than
// any write still between its copy and its commit (a Write lives 15 minutes at most; a redrive within 14
// days resumes from its manifest, which names the file again).
const DefaultOrphanAge = 15 * 24 * time.Hour

// Publish puts src's object srcKey in the table as its data file file, unless the file is there already
// (its name is derived from its bytes): a server-side copy within one bucket, streamed between two.
func (t *Table) Publish(ctx context.Context, src store.Bucket, srcKey, srcETag, file string) error {
	key := t.Home.Key(file)
	if _, err := t.Home.Bucket.Head(ctx, key); err == nil || !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if src.Name() == t.Home.Bucket.Name() {
		obj, err := t.Home.Bucket.Copy(ctx, srcKey, key)
		if err == nil && srcETag != "" && obj.ETag != srcETag {
			_ = t.Home.Bucket.Delete(ctx, key)
			return fmt.Errorf("%s has etag %s, not %s: %w", srcKey, obj.ETag, srcETag, store.ErrPreconditionFailed)
		}
		return err
	}
	r, err := src.Open(ctx, srcKey, srcETag)
	if err != nil {
		return err
	}
	defer r.Close()
	up, err := t.Home.Bucket.Create(ctx, key)
	if err != nil {
		return err
	}
	if _, err := io.Copy(up, r); err != nil {
		up.Abort()
		return fmt.Errorf("copy %s to %s: %w", srcKey, t.url(file), err)
	}
	_, err = up.Commit()
	return err
}

// HasFile says whether the table's data file file exists.
func (t *Table) HasFile(ctx context.Context, file string) (bool, error) {
	_, err := t.Home.Bucket.Head(ctx, t.Home.Key(file))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
