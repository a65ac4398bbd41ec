//go:build windows

package store

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes an exclusive LockFileEx lock on the first byte of the file at path, waiting for it and
// creating the file when missing, and returns the function that releases it. Windows drops the lock when
// the process dies, so a killed writer never leaves a key locked. Byte-range locks belong to the handle,
// not the process: a lock held through one open of the file blocks a lock through another open also
// within one process (a second handle of the locking process cannot take the region), so, as with
// flock, goroutines need no mutex of their own.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	// os.OpenFile gives a handle for synchronous I/O, so LockFileEx waits for the lock before returning;
	// the Overlapped only carries the offset of the range (0).
	h := windows.Handle(f.Fd())
	if err := windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, new(windows.Overlapped)); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "LockFileEx", Path: path, Err: err}
	}
	return func() {
		// Unlock before closing: Windows releases the locks of a closed handle only some time later.
		_ = windows.UnlockFileEx(h, 0, 1, 0, new(windows.Overlapped))
		f.Close()
	}, nil
}
