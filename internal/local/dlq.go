package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/fetch"
)

// DLQDir is the folder of the failed-files DLQ inside the data folder: one JSON file per message.
const DLQDir = "dlq"

// dlqStamp is the time prefix of a DLQ message's file name (and id): when it was sent.
const dlqStamp = "20060102T150405.000000000Z"

// DLQMessage is one message of the local failed-files DLQ.
type DLQMessage struct {
	ID   string // the file name without .json
	Path string
	Body string
	Sent time.Time
}

// DLQMessages lists the failed-files DLQ's messages, oldest first.
func (e *Env) DLQMessages() ([]DLQMessage, error) {
	dir := filepath.Join(e.Dir, DLQDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []DLQMessage
	for _, de := range entries {
		id, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || de.IsDir() {
			continue
		}
		m, err := e.DLQMessage(id)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DLQMessage reads one message of the failed-files DLQ by id.
func (e *Env) DLQMessage(id string) (DLQMessage, error) {
	if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return DLQMessage{}, fmt.Errorf("no message %q in %s", id, filepath.Join(e.Dir, DLQDir))
	}
	p := filepath.Join(e.Dir, DLQDir, id+".json")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return DLQMessage{}, fmt.Errorf("no message %s in %s (it may have been redriven)", id, filepath.Join(e.Dir, DLQDir))
	}
	if err != nil {
		return DLQMessage{}, err
	}
	m := DLQMessage{ID: id, Path: p, Body: string(b)}
	if len(id) >= len(dlqStamp) {
		m.Sent, _ = time.Parse(dlqStamp, id[:len(dlqStamp)])
	}
	if m.Sent.IsZero() {
		if fi, err := os.Stat(p); err == nil {
			m.Sent = fi.ModTime().UTC()
		}
	}
	return m, nil
}

// DeleteDLQMessage removes a message of the failed-files DLQ (once its file has been restarted).
func (e *Env) DeleteDLQMessage(id string) error {
	m, err := e.DLQMessage(id)
	if err != nil {
		return err
	}
	return os.Remove(m.Path)
}

// dirQueue is the fetch dead-letter queue as files (FetchDLQDir): one indented JSON file per message.
// The folder is kept across runs, so a message never replaces another: its name is the time it was
// sent, a random part and the report's key (<stamp>-<8 hex digits>-<account>_<file>.json), and it is
// created only where no file is (a clash, however unlikely, takes another random part).
type dirQueue struct{ dir string }

func (d dirQueue) Send(_ context.Context, body []byte) error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return fmt.Errorf("fetch dead-letter queue: %w", err)
	}
	var v any
	if json.Unmarshal(body, &v) == nil {
		body, _ = json.MarshalIndent(v, "", "  ")
	}
	what := ""
	if m, ok := v.(map[string]any); ok {
		if k, ok := m["key"].(string); ok {
			what = "-" + strings.ReplaceAll(strings.TrimPrefix(k, fetch.RawPrefix), "/", "_")
		}
	}
	stamp := time.Now().UTC().Format(dlqStamp)
	for range 10 {
		var r [4]byte
		_, _ = rand.Read(r[:])
		p := filepath.Join(d.dir, stamp+"-"+hex.EncodeToString(r[:])+what+".json")
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("fetch dead-letter queue: %w", err)
		}
		_, err = f.Write(append(body, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(p)
			return fmt.Errorf("fetch dead-letter queue: %s: %w", p, err)
		}
		return nil
	}
	return fmt.Errorf("fetch dead-letter queue: no free name in %s for a message sent at %s", d.dir, stamp)
}
