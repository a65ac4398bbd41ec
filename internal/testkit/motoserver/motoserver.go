// Package motoserver starts moto's AWS emulator (moto_server, from the Python package moto) on loopback
// for tests, so that the project's AWS code paths are checked against an implementation of S3, SQS,
// SNS, EventBridge, Step Functions and CloudFormation that this project did not write.
//
// A test calls Start for a server of its own, or Shared for the test binary's one server (stopped by
// StopShared from TestMain); without moto_server on PATH the test is skipped with the command that
// installs it, except in CI (CI set in the environment), where a missing proof tool is a failure.
package motoserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/paysettle/settle/internal/testkit/proof"
)

// Version is the moto release the proofs were written against.
const Version = "5.2.1"

// Region is the region the emulator's resources live in.
const Region = "us-east-1"

// readyTimeout bounds how long Start waits for the server to announce itself.
const readyTimeout = 60 * time.Second

// Server is a running moto_server.
type Server struct {
	// Endpoint is the server's base URL, e.g. http://127.0.0.1:40123.
	Endpoint string
}

// Start runs moto_server on a free loopback port until the test ends and returns it once it serves.
func Start(t testing.TB) *Server {
	t.Helper()
	srv, stop, err := launch()
	if err != nil {
		fail(t, err)
	}
	t.Cleanup(stop)
	return srv
}

// shared is the test binary's one server (Shared).
var shared struct {
	sync.Mutex
	srv  *Server
	stop func()
	err  error // a failed start is not tried again
}

// Shared returns the test binary's one moto_server, started on first use, for tests that each create
// their own resources (a CloudFormation stack per test, say) and need not pay a server start each.
// TestMain stops it with StopShared; otherwise it dies with the test binary (Pdeathsig).
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.stop, shared.err = launch()
	}
	if shared.err != nil {
		fail(t, shared.err)
	}
	return shared.srv
}

// StopShared stops the server Shared started, if any.
func StopShared() {
	shared.Lock()
	defer shared.Unlock()
	if shared.stop != nil {
		shared.stop()
	}
	shared.srv, shared.stop, shared.err = nil, nil, errors.New("moto_server: the shared server was stopped")
}

// errMissing marks a server that cannot run here: a skip outside CI, a failure in it.
type errMissing struct{ msg string }

func (e *errMissing) Error() string { return e.msg }

func fail(t testing.TB, err error) {
	t.Helper()
	var m *errMissing
	if errors.As(err, &m) {
		proof.Missing(t, "%s", m.msg)
	}
	t.Fatal(err)
}

// launch starts moto_server on a free loopback port and waits until it serves; stop kills it.
func launch() (srv *Server, stop func(), err error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, nil, &errMissing{fmt.Sprintf("moto_server not found on PATH: install moto %s (pip install 'moto[server]==%s')", Version, Version)}
	}
	port, err := freePort()
	if err != nil {
		return nil, nil, fmt.Errorf("moto_server: %w", err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	// Its own process group, so that the cleanup also stops what a launcher script (pyenv's shim)
	// started; Pdeathsig stops it if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Not the test's AWS settings (a test may have pointed them elsewhere, or emptied AWS_PROFILE,
	// which botocore inside moto refuses): moto needs none.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AWS_DEFAULT_REGION="+Region, "MOTO_ALLOW_NONEXISTENT_REGION=true")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, nil, &errMissing{fmt.Sprintf("moto_server does not start: %v", err)}
	}
	stop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
	// The server prints " * Running on http://127.0.0.1:PORT" when it accepts requests: wait for
	// that line rather than polling.
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var seen []string
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "Running on") {
				ready <- nil
				_, _ = io.Copy(io.Discard, stderr) // keep draining, or the server blocks on a full pipe
				return
			}
			seen = append(seen, line)
		}
		ready <- fmt.Errorf("moto_server exited before serving: %s", strings.Join(seen, " | "))
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case err := <-ready:
		if err != nil {
			stop()
			return nil, nil, err
		}
	case <-timer.C:
		stop()
		return nil, nil, fmt.Errorf("moto_server did not announce itself within %s", readyTimeout)
	}
	return &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port)}, stop, nil
}

// Config returns an SDK configuration for the server: static test credentials, the emulator's
// region and endpoint, and a retryer that gives up fast so that a failing assertion shows at once.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 1 })
		},
	}
}

// Reset drops every resource the server holds (moto's reset API), for tests that share one server.
func (s *Server) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint+"/moto-api/reset", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto reset: %s", resp.Status)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
