package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// record is what Dir/<name>.json holds: the execution, its history and the exact input bytes (the
// idempotency check compares bytes, and encoding/json compacts a RawMessage).
type record struct {
	Execution Execution `json:"execution"`
	InputText string    `json:"inputText"`
	Events    []Event   `json:"events"`
	// Owner is the process that runs the execution, or last ran it.
	Owner *owner `json:"owner,omitempty"`
}

// owner names a process, for the cause of an execution that its process left unfinished.
type owner struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
}

// thisProcess is the owner of the executions this process runs.
func thisProcess() *owner {
	cmd := "settle"
	if len(os.Args) > 0 && os.Args[0] != "" {
		cmd = filepath.Base(os.Args[0])
	}
	return &owner{PID: os.Getpid(), Command: cmd}
}

// fileStore keeps one file per execution. A name is reserved by creating its file with O_EXCL (the
// first content is written through that descriptor); every later update goes to a temporary file
// renamed over it, so readers in any process see either the previous or the next complete version.
// Lock files under .locks/ tell a running execution from one whose process died (see gate and tryLease).
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

// lockDir holds the lock files: the gate, and one lease per execution.
func (s fileStore) lockDir() string { return filepath.Join(s.dir, lockDirName) }

// lockDirName is hidden, so that names() and readers of the directory skip it.
const lockDirName = ".locks"

// gate waits for the store's gate and returns its unlock. The gate makes the short transitions of an
// execution (its creation, the start of a redrive, ending an orphan) atomic across processes: whoever
// holds it may test a lease and act on the answer before anyone else does. It is never held while a
// state runs.
func (s fileStore) gate() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.lockDir(), "gate"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("execution store gate: %w", err)
	}
	if _, err := lockFile(f, true); err != nil {
		f.Close()
		return nil, fmt.Errorf("execution store gate: %w", err)
	}
	return func() { f.Close() }, nil
}

// tryLease takes the lease of an execution without waiting. The process running an execution holds its
// lease from before the record says RUNNING until after it says how the execution ended; the operating
// system drops the lease when that process dies. So, under the gate, a free lease on a RUNNING record
// means that its process is gone. ok is false when the lease is held (by a live runner). Lease files are
// kept: removing one could let two holders lock two different files of the same name.
func (s fileStore) tryLease(name string) (release func(), ok bool, err error) {
	f, err := os.OpenFile(filepath.Join(s.lockDir(), name+".lease"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("lease of execution %s: %w", name, err)
	}
	ok, err = lockFile(f, false)
	if err != nil || !ok {
		f.Close()
		if err != nil {
			return nil, false, fmt.Errorf("lease of execution %s: %w", name, err)
		}
		return nil, false, nil
	}
	return func() { f.Close() }, true, nil
}
