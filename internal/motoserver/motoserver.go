// Package motoserver starts moto's AWS emulator (moto_server, from the Python package moto) on loopback
// for tests, so that the project's AWS code paths are checked against an implementation of S3, SQS,
// SNS, EventBridge, Step Functions and CloudFormation that this project did not write.
//
// A test calls Start; without moto_server on PATH the test is skipped with the command that installs
// it, except in CI (CI set in the environment), where a missing proof tool is a failure.
package motoserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/paysettle/settle/internal/proof"
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
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		proof.Missing(t, "moto_server not found on PATH: install moto %s (pip install 'moto[server]==%s')", Version, Version)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("moto_server: %v", err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	// Its own process group, so that the cleanup also stops what a launcher script (pyenv's shim)
	// started; Pdeathsig stops it if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION="+Region, "MOTO_ALLOW_NONEXISTENT_REGION=true")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		proof.Missing(t, "moto_server does not start: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
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
			t.Fatal(err)
		}
	case <-timer.C:
		t.Fatalf("moto_server did not announce itself within %s", readyTimeout)
	}
	return &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port)}
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
