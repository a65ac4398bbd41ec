package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// counterEnv, when set, makes the test binary a child of TestDirConditionalAcrossProcesses: it adds
// counterRounds to the counter in the folder the variable names and exits.
const counterEnv = "STORE_TEST_COUNTER_DIR"

const counterRounds = 40

func TestMain(m *testing.M) {
	if dir := os.Getenv(counterEnv); dir != "" {
		if err := countUp(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// countUp increments the counter object counterRounds times, each a read, then a write conditional on
// the version read, retried when another process got there first.
func countUp(dir string) error {
	ctx := context.Background()
	d, err := NewDir("raw", dir)
	if err != nil {
		return err
	}
	for range counterRounds {
		for {
			data, obj, err := d.Get(ctx, "counter")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(string(data))
			if err != nil {
				return err
			}
			_, err = d.PutIf(ctx, "counter", []byte(strconv.Itoa(n+1)), Precondition{IfMatch: obj.ETag})
			if err == nil {
				break
			}
			if !errors.Is(err, ErrPreconditionFailed) {
				return err
			}
		}
	}
	return nil
}

// TestDirConditionalAcrossProcesses: processes sharing one folder increment a counter with conditional
// writes; a lost update (two processes both replacing the same version) would leave the total short.
func TestDirConditionalAcrossProcesses(t *testing.T) {
	const procs = 4
	dir := t.TempDir()
	d, err := NewDir("raw", dir)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, d, "counter", []byte("0"))
	var cmds []*exec.Cmd
	for range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), counterEnv+"="+dir)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	data, _, err := d.Get(t.Context(), "counter")
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(procs * counterRounds); string(data) != want {
		t.Errorf("counter = %s after %d processes × %d increments, want %s", data, procs, counterRounds, want)
	}
}
