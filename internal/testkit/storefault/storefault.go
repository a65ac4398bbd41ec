// Package storefault wraps a store.Bucket so that writes under chosen key prefixes fail the way S3
// throttling does (503 Slow Down, which store.IsTransient retries), for tests of retries, redrives and
// the operator's tools.
package storefault

import (
	"context"
	"strings"
	"sync"

	"github.com/paysettle/settle/internal/store"
)

// Bucket fails writes (Create, Copy to, Put) of keys under a prefix, as many times as Set says.
type Bucket struct {
	store.Bucket
	mu    sync.Mutex
	rules map[string]int
	hits  int
}

// Set makes writes under prefix fail n times (negative: always, 0: never again).
func (f *Bucket) Set(prefix string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rules == nil {
		f.rules = map[string]int{}
	}
	f.rules[prefix] = n
}

// Hits is how many writes failed so far.
func (f *Bucket) Hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

func (f *Bucket) fail(api, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, n := range f.rules {
		if strings.HasPrefix(key, p) && n != 0 {
			f.rules[p] = n - 1
			f.hits++
			return SlowDown{API: api}
		}
	}
	return nil
}

// Create fails when a rule says so.
func (f *Bucket) Create(ctx context.Context, key string) (store.Upload, error) {
	if err := f.fail("PutObject", key); err != nil {
		return nil, err
	}
	return f.Bucket.Create(ctx, key)
}

// Copy fails when a rule says so for the destination key.
func (f *Bucket) Copy(ctx context.Context, src, dst string) (store.Object, error) {
	if err := f.fail("CopyObject", dst); err != nil {
		return store.Object{}, err
	}
	return f.Bucket.Copy(ctx, src, dst)
}

// Put fails when a rule says so.
func (f *Bucket) Put(ctx context.Context, key string, data []byte) (store.Object, error) {
	if err := f.fail("PutObject", key); err != nil {
		return store.Object{}, err
	}
	return f.Bucket.Put(ctx, key, data)
}

// PutIf fails when a rule says so.
func (f *Bucket) PutIf(ctx context.Context, key string, data []byte, pre store.Precondition) (store.Object, error) {
	if err := f.fail("PutObject", key); err != nil {
		return store.Object{}, err
	}
	return f.Bucket.PutIf(ctx, key, data, pre)
}

// SlowDown is the injected failure, worded as the AWS SDK words S3's 503 Slow Down.
type SlowDown struct{ API string }

func (e SlowDown) Error() string {
	return e.API + ": api error SlowDown: Please reduce your request rate."
}

// HTTPStatusCode is 503, as S3 answers.
func (SlowDown) HTTPStatusCode() int { return 503 }

// Unwrap marks the failure transient, as the S3 bucket marks a 503 (store.IsTransient).
func (SlowDown) Unwrap() error { return store.ErrTransient }
