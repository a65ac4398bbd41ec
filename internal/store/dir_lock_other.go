//go:build !unix && !windows

package store

import "sync"

// lockFile serialises the writers of this process that share the lock's path. On these systems (neither
// unix, which uses flock, nor Windows, which uses LockFileEx) there is no file lock, so two processes
// writing one folder's keys are not kept apart: conditional writes are atomic only within one process.
func lockFile(path string) (func(), error) {
	v, _ := fileLocks.LoadOrStore(path, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock, nil
}

var fileLocks sync.Map
