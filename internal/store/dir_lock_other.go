//go:build !unix

package store

import "sync"

// lockFile serialises the writers of this process that share the lock's path. Without flock, two
// processes writing one folder's keys are not kept apart: conditional writes are atomic only within
// one process on these systems.
func lockFile(path string) (func(), error) {
	v, _ := fileLocks.LoadOrStore(path, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock, nil
}

var fileLocks sync.Map
