//go:build linux

package rie

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeSecretsSQS speaks the two calls the report intake makes besides S3: Secrets Manager's
// GetSecretValue (JSON 1.1, X-Amz-Target secretsmanager.GetSecretValue) and SQS's SendMessage (JSON 1.0,
// X-Amz-Target AmazonSQS.SendMessage, answering the body's MD5 as the SDK checks it). The functions
// reach it through AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_ENDPOINT_URL_SQS.
type fakeSecretsSQS struct {
	url     string
	mu      sync.Mutex
	secrets map[string]string
	sent    map[string][]string // queue URL -> bodies
	reads   int
	// sqsDown makes SendMessage answer 500.
	sqsDown bool
}

func newFakeSecretsSQS(t *testing.T, secrets map[string]string) *fakeSecretsSQS {
	t.Helper()
	f := &fakeSecretsSQS{secrets: secrets, sent: map[string][]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeSecretsSQS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	target := r.Header.Get("X-Amz-Target")
	var in struct {
		SecretID    string `json:"SecretId"`
		QueueURL    string `json:"QueueUrl"`
		MessageBody string `json:"MessageBody"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"__type": "SerializationException", "message": err.Error()})
		return
	}
	switch target {
	case "secretsmanager.GetSecretValue":
		f.reads++
		v, ok := f.secrets[in.SecretID]
		if !ok {
			reply(w, http.StatusBadRequest, map[string]any{"__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret."})
			return
		}
		reply(w, http.StatusOK, map[string]any{"ARN": in.SecretID, "Name": in.SecretID, "SecretString": v, "VersionId": "v1", "CreatedDate": 1714708800})
	case "AmazonSQS.SendMessage":
		if f.sqsDown {
			reply(w, http.StatusInternalServerError, map[string]any{"__type": "com.amazonaws.sqs#InternalError", "message": "the fake is down"})
			return
		}
		f.sent[in.QueueURL] = append(f.sent[in.QueueURL], in.MessageBody)
		sum := md5.Sum([]byte(in.MessageBody))
		reply(w, http.StatusOK, map[string]any{"MessageId": fmt.Sprintf("msg-%d", len(f.sent[in.QueueURL])), "MD5OfMessageBody": hex.EncodeToString(sum[:])})
	default:
		reply(w, http.StatusBadRequest, map[string]any{"__type": "UnknownOperationException", "message": strings.TrimSpace(target)})
	}
}

func (f *fakeSecretsSQS) messages(queueURL string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent[queueURL]...)
}

func (f *fakeSecretsSQS) set(fn func(f *fakeSecretsSQS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}
