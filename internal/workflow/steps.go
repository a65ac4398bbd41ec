package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/store"
)

// SniffBytes is how much of a file the check step reads: enough for the header and the first rows.
const SniffBytes = 64 << 10

// Steps are the handlers of the check, validate, transform and write functions.
//
// Why the work is split this way: Check touches only metadata and the first bytes, so duplicates,
// conflicts and files that are not reports stop before anything is read in full. Validate reads the whole
// file once and judges it — every row rule and every file rule — before anything is built, so a rejected
// file costs one read and leaves only its rejects and report. Transform re-reads the accepted file and
// encodes its rows as the settlement_lines Parquet file, under a staging key, so that the expensive part
// is retried on its own. Write publishes the staged file under the key derived from the batch (a
// server-side copy), after checking that no other file committed the batch meanwhile, and writes the
// manifest last, which is the commit: a crash anywhere before leaves a state that a rerun of the same
// step overwrites.
type Steps struct {
	Raw       store.Bucket
	Processed store.Bucket
	Conf      Config
	Log       *slog.Logger
	// Stage does the transform step's heavy work. It is injected so that only the transform function
	// links Arrow and Parquet (parquetfile.Stage, wired by functions/transform and local).
	Stage StageFunc
	// Table is the table of record the write step commits each batch's version to (icetable.Open of the
	// processed bucket, wired by functions/write and local, so that only they link Iceberg); nil keeps
	// only the Hive layout and the manifests.
	Table Table
	// Metrics receives the steps' metrics (nil: none) and Tracer their trace spans (zero: off); see
	// observe.go.
	Metrics *obs.Metrics
	Tracer  obs.Tracer
	// Now is the clock claims are stamped with (nil: time.Now).
	Now func() time.Time
}

// StageFunc reads a validated report and writes its valid rows to out as one settlement_lines Parquet
// file, returning the reader's counts (parquetfile.Stage).
type StageFunc func(report io.Reader, out io.Writer, job settlement.Job) (settlement.Counts, error)

func (s *Steps) logger(in StepInput, step string) *slog.Logger {
	l := s.Log
	if l == nil {
		l = slog.Default()
	}
	l = l.With(obs.KeyExecution, in.Execution, obs.KeyStep, step, obs.KeyBucket, in.File.Bucket, obs.KeyKey, in.File.Key, obs.KeyETag, in.File.ETag)
	if merchant, batch := in.batch(); merchant != "" {
		l = l.With(obs.KeyMerchant, merchant, obs.KeyBatch, batch)
	}
	return l
}

func (s *Steps) source(in StepInput) error {
	if in.File.Bucket != s.Raw.Name() {
		return &InvalidFileError{File: in.File.URL(), Reason: fmt.Sprintf("not in the raw bucket %q", s.Raw.Name())}
	}
	if in.File.Key == "" || in.File.ETag == "" {
		return &InvalidFileError{File: in.File.URL(), Reason: "the input names no key or etag"}
	}
	return nil
}

// readManifest reads a batch's manifest and its (unquoted) ETag; nil and "" when there is none.
func (s *Steps) readManifest(ctx context.Context, key string) (*Manifest, string, error) {
	data, obj, err := s.Processed.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", infraError("read manifest "+key, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", &TransientError{Op: "read manifest " + key, Err: "not a manifest: " + err.Error()}
	}
	return &m, obj.ETag, nil
}

func (s *Steps) readReport(ctx context.Context, key string) (*settlement.Report, error) {
	rc, err := s.Processed.Open(ctx, key, "")
	if err != nil {
		return nil, infraError("read "+key, err)
	}
	defer rc.Close()
	var rep settlement.Report
	if err := json.NewDecoder(rc).Decode(&rep); err != nil {
		return nil, infraError("read "+key, err)
	}
	return &rep, nil
}

func (c Config) maxFileBytes() int64 {
	if c.MaxFileBytes <= 0 {
		return DefaultMaxFileBytes
	}
	return c.MaxFileBytes
}

// openRaw streams the file's bytes from offset (length < 0: to the end), read at its ETag: from the key,
// or, when the check found the key overwritten, from the file's own version.
func (s *Steps) openRaw(ctx context.Context, in StepInput, offset, length int64) (io.ReadCloser, error) {
	f := in.File
	if in.Check != nil && in.Check.Overwritten {
		v, ok := s.Raw.(store.Versioned)
		if !ok || f.VersionID == "" {
			return nil, &InvalidFileError{File: f.URL(), Reason: "the key was overwritten and this version cannot be read by its id"}
		}
		if length < 0 {
			length = math.MaxInt64 - offset
		}
		return v.OpenVersionRange(ctx, f.Key, f.VersionID, f.ETag, offset, length)
	}
	if length < 0 {
		return s.Raw.Open(ctx, f.Key, f.ETag)
	}
	return s.Raw.OpenRange(ctx, f.Key, f.ETag, offset, length)
}
