package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"syscall"
	"testing"
)

func TestIsTransient(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"not found", fmt.Errorf("head raw/k: %w", ErrNotFound), false},
		{"precondition", fmt.Errorf("get s3://raw/k: %w", ErrPreconditionFailed), false},
		{"invalid key", fmt.Errorf("put raw: %w", ErrInvalidKey), false},
		{"unknown", errors.New("something else"), false},
		{"canceled", fmt.Errorf("get: %w", context.Canceled), false},
		{"deadline", fmt.Errorf("retry backoff: %w", context.DeadlineExceeded), true},
		{"marked", fmt.Errorf("get: %w", Transient(errors.New("503 Slow Down"))), true},
		{"marked body read", Transient(fmt.Errorf("read s3://raw/k: %w", io.ErrUnexpectedEOF)), true},
		{"bare unexpected EOF", io.ErrUnexpectedEOF, false}, // a parser's, about the data
		{"disk full", &fs.PathError{Op: "write", Path: "/data/x", Err: syscall.ENOSPC}, true},
		{"rename", &fs.PathError{Op: "rename", Path: "/data/x", Err: syscall.EIO}, true},
	} {
		if got := IsTransient(tc.err); got != tc.want {
			t.Errorf("IsTransient(%s: %v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestTransientKeepsTheChain: marking an error keeps its message and what errors.Is and errors.As find.
func TestTransientKeepsTheChain(t *testing.T) {
	base := &fs.PathError{Op: "read", Path: "x", Err: syscall.EIO}
	err := Transient(fmt.Errorf("read x: %w", base))
	var pe *fs.PathError
	if err.Error() != "read x: read x: input/output error" || !errors.As(err, &pe) || !errors.Is(err, syscall.EIO) || !errors.Is(err, ErrTransient) {
		t.Errorf("Transient(...) = %q; As PathError %v, Is EIO %v", err, errors.As(err, &pe), errors.Is(err, syscall.EIO))
	}
	if Transient(nil) != nil {
		t.Error("Transient(nil) != nil")
	}
}
