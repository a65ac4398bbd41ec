package icetable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Table is settlement_lines' Iceberg table in a bucket.
type Table struct {
	Bucket   store.Bucket
	Location string // the URL readers open it by: file:///…/iceberg/settlement_lines, s3://bucket/iceberg/settlement_lines
	// Wait is how a committer that lost the swap waits before it reads the table again (nil: a timer).
	Wait func(ctx context.Context, d time.Duration) error

	// last is the newest version this Table read or wrote, parsed: a commit's metadata is most of its
	// cost (a JSON document growing with the snapshots kept), and a warm writer's next commit most often
	// builds on its own last one.
	mu   sync.Mutex
	last struct {
		version int
		meta    table.Metadata
	}
}

// Open is the table in bucket, at TablePrefix.
func Open(bucket store.Bucket) *Table {
	return &Table{Bucket: bucket, Location: LocationOf(bucket)}
}

// For is Open as the write step takes it.
func For(bucket store.Bucket) workflow.Table { return Open(bucket) }

// ReaderFor is Open as the consistency check takes it.
func ReaderFor(bucket store.Bucket) workflow.TableReader { return Open(bucket) }

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

func metadataKey(version int) string {
	return fmt.Sprintf("%s/metadata/v%d.metadata.json", TablePrefix, version)
}

const hintKey = TablePrefix + "/metadata/version-hint.text"

// MetadataURL is the URL of the table's metadata at version: what a reader is pointed at for the table as
// of that commit.
func (t *Table) MetadataURL(version int) string {
	return t.Location + strings.TrimPrefix(metadataKey(version), TablePrefix)
}

func (t *Table) io(ctx context.Context) *bucketIO {
	return &bucketIO{ctx: ctx, bucket: t.Bucket, location: t.Location, prefix: TablePrefix}
}

func (t *Table) fs(ctx context.Context) (icebergio.IO, error) { return t.io(ctx), nil }

// Current is the table as of its latest commit, and that commit's version number; ErrNoTable when there
// is none.
func (t *Table) Current(ctx context.Context) (*table.Table, int, error) {
	v, err := t.latestVersion(ctx)
	if err != nil {
		return nil, 0, err
	}
	if v == 0 {
		return nil, 0, ErrNoTable
	}
	tbl, err := t.AtVersion(ctx, v)
	return tbl, v, err
}

// AtVersion is the table as its commit number version left it.
func (t *Table) AtVersion(ctx context.Context, version int) (*table.Table, error) {
	t.mu.Lock()
	cached := t.last
	t.mu.Unlock()
	if cached.version == version && cached.meta != nil {
		return table.New(Identifier, cached.meta, t.MetadataURL(version), t.fs, &swap{t: t, version: version, base: cached.meta}), nil
	}
	body, _, err := t.Bucket.Get(ctx, metadataKey(version))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", metadataKey(version), err)
	}
	meta, err := table.ParseMetadataBytes(body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", metadataKey(version), err)
	}
	t.remember(version, meta)
	return table.New(Identifier, meta, t.MetadataURL(version), t.fs, &swap{t: t, version: version, base: meta}), nil
}

func (t *Table) remember(version int, meta table.Metadata) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if version > t.last.version {
		t.last.version, t.last.meta = version, meta
	}
}

// latestVersion finds the newest vN.metadata.json: from the version hint (written after each commit, so at
// most a few behind) upwards, or from a listing when the hint is missing or unreadable.
func (t *Table) latestVersion(ctx context.Context) (int, error) {
	v := 0
	if body, _, err := t.Bucket.Get(ctx, hintKey); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(body))); err == nil && n > 0 {
			v = n
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	if v == 0 {
		objs, err := t.Bucket.List(ctx, TablePrefix+"/metadata/v")
		if err != nil {
			return 0, err
		}
		for _, o := range objs {
			name := strings.TrimSuffix(strings.TrimPrefix(path.Base(o.Key), "v"), ".metadata.json")
			if n, err := strconv.Atoi(name); err == nil && n > v {
				v = n
			}
		}
	}
	for {
		_, err := t.Bucket.Head(ctx, metadataKey(v+1))
		if errors.Is(err, store.ErrNotFound) {
			return v, nil
		}
		if err != nil {
			return 0, err
		}
		v++
	}
}

// swap is the catalog of one attempt: it commits updates on the version the attempt read, as version+1,
// or fails with table.ErrCommitFailed when another commit took version+1 first.
type swap struct {
	t       *Table
	version int
	base    table.Metadata
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
	if s.version > 0 {
		baseURL = s.t.MetadataURL(s.version)
	}
	next, err := table.UpdateTableMetadata(s.base, updates, baseURL)
	if err != nil {
		return nil, "", err
	}
	if err := s.t.install(ctx, s.version+1, next); err != nil {
		return nil, "", err
	}
	return next, s.t.MetadataURL(s.version + 1), nil
}

// install writes meta as commit number version, only if that version does not exist yet: the
// compare-and-swap every change of the table goes through.
func (t *Table) install(ctx context.Context, version int, meta table.Metadata) error {
	body, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	_, err = t.Bucket.PutIf(ctx, metadataKey(version), body, store.Precondition{IfAbsent: true})
	if errors.Is(err, store.ErrPreconditionFailed) {
		return fmt.Errorf("%w: another commit wrote version %d first", table.ErrCommitFailed, version)
	}
	if err != nil {
		return err
	}
	t.remember(version, meta)
	// The hint only saves readers a listing: a lost update leaves it behind, never ahead.
	_, _ = t.Bucket.Put(ctx, hintKey, []byte(strconv.Itoa(version)))
	return nil
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
	tbl, version, err := t.Current(ctx)
	if !errors.Is(err, ErrNoTable) {
		return tbl, version, err
	}
	if err := t.create(ctx); err != nil {
		return nil, 0, err
	}
	return t.Current(ctx)
}

// create commits version 1, an empty table, unless another committer did it first.
func (t *Table) create(ctx context.Context) error {
	sc, err := Schema()
	if err != nil {
		return err
	}
	spec, err := partitionSpec(sc)
	if err != nil {
		return err
	}
	meta, err := table.NewMetadata(sc, &spec, table.UnsortedSortOrder, t.Location, newProperties())
	if err != nil {
		return err
	}
	if err := t.install(ctx, 1, meta); err != nil && !errors.Is(err, table.ErrCommitFailed) {
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
