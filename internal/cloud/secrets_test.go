package cloud

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

type fakeSM struct {
	calls int
	value string
	err   error
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &secretsmanager.GetSecretValueOutput{Name: in.SecretId, SecretString: aws.String(f.value)}, nil
}

// A secret is read once per TTL, and a changed value is seen after it; a failure is not cached.
func TestSecretsCache(t *testing.T) {
	now := time.Date(2024, 5, 3, 6, 0, 0, 0, time.UTC)
	sm := &fakeSM{value: "v1"}
	s := &Secrets{Client: sm, Now: func() time.Time { return now }}
	get := func() string {
		t.Helper()
		v, err := s.Get(t.Context(), "arn:secret")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first, second := get(), get()
	if first != "v1" || second != "v1" || sm.calls != 1 {
		t.Errorf("two reads within the TTL made %d calls", sm.calls)
	}
	sm.value = "v2"
	now = now.Add(DefaultSecretTTL - time.Second)
	if v := get(); v != "v1" || sm.calls != 1 {
		t.Errorf("within the TTL: %s after %d calls", v, sm.calls)
	}
	now = now.Add(time.Second)
	if v := get(); v != "v2" || sm.calls != 2 {
		t.Errorf("after the TTL: %s after %d calls, want v2 read again", v, sm.calls)
	}
	now = now.Add(DefaultSecretTTL)
	sm.err = errors.New("throttled")
	if _, err := s.Get(t.Context(), "arn:secret"); err == nil {
		t.Error("a failed read returned a value")
	}
	sm.err = nil
	if v := get(); v != "v2" || sm.calls != 4 {
		t.Errorf("after a failure: %s after %d calls, want a new read", v, sm.calls)
	}
}
