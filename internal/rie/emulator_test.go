//go:build linux

package rie

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/testkit/proof"
	"github.com/paysettle/settle/internal/testkit/reporoot"
)

// tool finds a program on PATH or in .ci/bin, where .ci/run installs aws-lambda-rie.
func tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join(reporoot.Of(t), ".ci", "bin", name); isExecutable(p) {
		return p
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// bootstrapCommand is how the emulator starts a function: the arm64 bootstrap itself on arm64, else
// through qemu-aarch64.
func bootstrapCommand(t testing.TB) []string {
	t.Helper()
	if runtime.GOARCH == "arm64" {
		return []string{"./bootstrap"}
	}
	qemu := tool(t, "qemu-aarch64")
	if qemu == "" {
		proof.Missing(t, "qemu-aarch64 not found (Debian: apt-get install qemu-user); .ci/run installs it")
	}
	return []string{qemu, "./bootstrap"}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects the emulator's output for the failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// emulator is one aws-lambda-rie process serving one function. Only one runs at a time: each is
// stopped before the next starts.
type emulator struct {
	fn   string
	url  string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// startEmulator starts aws-lambda-rie with build/<dir>/bootstrap and env as the function's whole
// environment (the emulator passes its own environment on), and waits until it accepts connections.
// The runtime API gets a free port too, instead of the emulator's fixed 9001.
func startEmulator(t *testing.T, dir string, env map[string]string) *emulator {
	t.Helper()
	rie := tool(t, "aws-lambda-rie")
	if rie == "" {
		proof.Missing(t, "aws-lambda-rie not found; .ci/run installs it into .ci/bin (go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d)")
	}
	bin := filepath.Join(reporoot.Of(t), "build", dir)
	if !isExecutable(filepath.Join(bin, "bootstrap")) {
		proof.Missing(t, "build/%s/bootstrap not found: run make build (make test does)", dir)
	}
	apiPort, port := freePort(t), freePort(t)
	args := append([]string{
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
	}, bootstrapCommand(t)...)
	cmd := exec.Command(rie, args...)
	cmd.Dir = bin
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the emulator, qemu and the bootstrap stop together
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	e := &emulator{fn: dir, url: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port), cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(e.done) }()
	t.Cleanup(e.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return e
		}
		select {
		case <-e.done:
			t.Fatalf("aws-lambda-rie exited before listening:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie did not listen on %d within 30s:\n%s", port, out)
		}
		time.Sleep(20 * time.Millisecond) // polling the port, not waiting for a fixed time
	}
}

// stop ends the emulator's process group and waits for it.
func (e *emulator) stop() {
	select {
	case <-e.done:
		return
	default:
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.done
	}
}

// invoke posts an event and returns the function's answer: its result, or for a failed invocation
// the {"errorType", "errorMessage"} document (HTTP 200 either way, like Lambda's Invoke).
func (e *emulator) invoke(t *testing.T, event []byte) []byte {
	t.Helper()
	status, body := e.post(t, event)
	if status != http.StatusOK {
		t.Fatalf("invoke %s: HTTP %d %s\n%s", e.fn, status, body, e.out)
	}
	t.Logf("%s answered: %s", e.fn, body)
	return body
}

// post posts an event and returns the emulator's HTTP status and body.
func (e *emulator) post(t *testing.T, event []byte) (int, []byte) {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Minute}
	resp, err := client.Post(e.url, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatalf("invoke %s: %v\n%s", e.fn, err, e.out)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// functionError is the document a failed invocation returns.
type functionError struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

// asError decodes a failed invocation's answer; ok is false for a successful one.
func asError(body []byte) (functionError, bool) {
	var fe functionError
	if json.Unmarshal(body, &fe) != nil || fe.ErrorType == "" {
		return functionError{}, false
	}
	return fe, true
}
