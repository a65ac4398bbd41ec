package cloud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// DefaultSecretTTL is how long a secret read from Secrets Manager is used before it is read again: short
// enough that a changed password or HMAC key takes effect within minutes, long enough that a busy
// function reads it a few times an hour instead of on every invocation.
const DefaultSecretTTL = 5 * time.Minute

// secretGetter is the part of the Secrets Manager client Secrets uses.
type secretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Secrets reads secret strings from Secrets Manager and keeps each for TTL, for the container's
// lifetime. A failed read is not cached: the next call tries again.
type Secrets struct {
	Client secretGetter
	TTL    time.Duration    // 0: DefaultSecretTTL
	Now    func() time.Time // nil: time.Now

	mu    sync.Mutex
	cache map[string]cachedSecret
}

type cachedSecret struct {
	value string
	at    time.Time
}

// NewSecrets returns a cache over a Secrets Manager client.
func NewSecrets(client *secretsmanager.Client) *Secrets { return &Secrets{Client: client} }

// Get returns the secret string of id (a name or ARN).
func (s *Secrets) Get(ctx context.Context, id string) (string, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultSecretTTL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cache[id]; ok && now().Sub(c.at) < ttl {
		return c.value, nil
	}
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", id, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("read secret %s: %w", id, errors.New("it has no secret string"))
	}
	if s.cache == nil {
		s.cache = map[string]cachedSecret{}
	}
	s.cache[id] = cachedSecret{value: *out.SecretString, at: now()}
	return *out.SecretString, nil
}
