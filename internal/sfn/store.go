package sfn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// record is what Dir/<name>.json holds: the execution, its history and the exact input bytes (the
// idempotency check compares bytes, and encoding/json compacts a RawMessage).
type record struct {
	Execution Execution `json:"execution"`
	InputText string    `json:"inputText"`
	Events    []Event   `json:"events"`
}

// fileStore keeps one file per execution. A name is reserved by creating its file with O_EXCL (the
// first content is written through that descriptor); every later update goes to a temporary file
// renamed over it, so readers in any process see either the previous or the next complete version.
type fileStore struct {
	dir string
}

func (s fileStore) path(name string) string { return filepath.Join(s.dir, name+".json") }

// marshalRecord encodes without HTML escaping, so that stored JSON texts keep "<" and "&" as they are.
func marshalRecord(rec *record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// create reserves the name and writes rec. It reports false (and no error) when the name is taken.
func (s fileStore) create(rec *record) (bool, error) {
	data, err := marshalRecord(rec)
	if err != nil {
		return false, err
	}
	f, err := os.OpenFile(s.path(rec.Execution.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reserve execution %s: %w", rec.Execution.Name, err)
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return true, fmt.Errorf("write execution %s: %w", rec.Execution.Name, werr)
	}
	return true, nil
}

// save replaces the stored record atomically.
func (s fileStore) save(rec *record) error {
	data, err := marshalRecord(rec)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, "."+rec.Execution.Name+".*.tmp")
	if err != nil {
		return fmt.Errorf("save execution %s: %w", rec.Execution.Name, err)
	}
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), s.path(rec.Execution.Name))
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save execution %s: %w", rec.Execution.Name, werr)
	}
	return nil
}

// load reads a record; fs.ErrNotExist (wrapped) when there is none. A file another process has just
// created may not be written yet: the read is retried for a moment before giving up.
func (s fileStore) load(name string) (*record, error) {
	var lastErr error
	for attempt := 0; attempt < 50; attempt++ {
		data, err := os.ReadFile(s.path(name))
		if err != nil {
			return nil, err
		}
		rec := &record{}
		if lastErr = json.Unmarshal(data, rec); lastErr == nil {
			return rec, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("read execution %s: %w", name, lastErr)
}

// names lists the stored executions.
func (s fileStore) names() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".json") {
			continue
		}
		names = append(names, strings.TrimSuffix(n, ".json"))
	}
	return names, nil
}

// claimRedrive makes sure only one caller, in any process, runs redrive number n of an execution.
// The marker is removed once the redriven execution is saved as RUNNING.
func (s fileStore) claimRedrive(name string, n int) (release func(), ok bool, err error) {
	p := filepath.Join(s.dir, "."+name+".redrive-"+strconv.Itoa(n))
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("claim redrive of %s: %w", name, err)
	}
	f.Close()
	return func() { os.Remove(p) }, true, nil
}
