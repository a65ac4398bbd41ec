package store

// The per-key lock of a Dir. lockFile, the file lock it takes, is per platform: dir_lock_unix.go (flock),
// dir_lock_windows.go (LockFileEx) and dir_lock_other.go (within one process only).

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// lock takes the lock that every change of key holds: one of 256 files chosen by a hash of the key,
// so the folder never holds more lock files than that and unrelated keys rarely wait for each other.
func (d *Dir) lock(key string) (func(), error) {
	sum := sha256.Sum256([]byte(key))
	p := filepath.Join(d.lockDir(), hex.EncodeToString(sum[:1]))
	unlock, err := lockFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		// The hidden folder was removed by hand; put it back rather than fail every write.
		if err = os.MkdirAll(d.lockDir(), 0o755); err == nil {
			unlock, err = lockFile(p)
		}
	}
	return unlock, err
}
