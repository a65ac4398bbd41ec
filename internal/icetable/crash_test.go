package icetable

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// dying is a bucket whose process dies after n calls: every later call fails.
type dying struct {
	store.Bucket
	n, calls int
}

var errDied = errors.New("the committer died here")

func (d *dying) call() error {
	d.calls++
	if d.calls > d.n {
		return errDied
	}
	return nil
}

func (d *dying) Head(ctx context.Context, key string) (store.Object, error) {
	if err := d.call(); err != nil {
		return store.Object{}, err
	}
	return d.Bucket.Head(ctx, key)
}

func (d *dying) Get(ctx context.Context, key string) ([]byte, store.Object, error) {
	if err := d.call(); err != nil {
		return nil, store.Object{}, err
	}
	return d.Bucket.Get(ctx, key)
}

func (d *dying) Put(ctx context.Context, key string, data []byte) (store.Object, error) {
	if err := d.call(); err != nil {
		return store.Object{}, err
	}
	return d.Bucket.Put(ctx, key, data)
}

func (d *dying) PutIf(ctx context.Context, key string, data []byte, pre store.Precondition) (store.Object, error) {
	if err := d.call(); err != nil {
		return store.Object{}, err
	}
	return d.Bucket.PutIf(ctx, key, data, pre)
}

func (d *dying) List(ctx context.Context, prefix string) ([]store.Object, error) {
	if err := d.call(); err != nil {
		return nil, err
	}
	return d.Bucket.List(ctx, prefix)
}

func (d *dying) Delete(ctx context.Context, key string) error {
	if err := d.call(); err != nil {
		return err
	}
	return d.Bucket.Delete(ctx, key)
}

// snapshotsAdding counts the kept snapshots that added file.
func snapshotsAdding(t *testing.T, tab *Table, file string) int {
	t.Helper()
	tbl, _, err := tab.Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties[SummaryFile] == file {
			n++
		}
	}
	return n
}

// crashAtEveryCall commits want to a table from setup once whole, counting its calls, then once for each
// of those calls on a fresh table, dying there (dying wraps a table's home so that its calls count
// towards the death), and runs the commit again, as the write step's retry would: the table must hold
// want once. A failure of the last call may be ignored by the commit when lastIgnored (the folder's
// version hint). It returns the number of calls.
func crashAtEveryCall(t *testing.T, setup func() workflow.TableHome, dying func(workflow.TableHome, int) (workflow.TableHome, *dying),
	want *workflow.TableVersion, lastIgnored bool) int {
	t.Helper()
	whole, counted := dying(setup(), 1<<30)
	if _, err := (&Table{Home: whole, Wait: noWait}).Commit(t.Context(), wants(want)); err != nil {
		t.Fatal(err)
	}
	calls := counted.calls
	for n := range calls {
		home := setup()
		dead, _ := dying(home, n)
		if _, err := (&Table{Home: dead, Wait: noWait}).Commit(t.Context(), wants(want)); !errors.Is(err, errDied) && (err != nil || !lastIgnored || n != calls-1) {
			t.Fatalf("a commit dead after %d of %d calls answered %v", n, calls, err)
		}
		tab := &Table{Home: home, Wait: noWait}
		if _, err := tab.Commit(t.Context(), wants(want)); err != nil {
			t.Fatalf("died after %d calls; the rerun: %v", n, err)
		}
		st, err := tab.State(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Files) != 1 || st.Files[0] != want.File || len(st.Batches) != 1 || snapshotsAdding(t, tab, want.File) != 1 {
			t.Errorf("died after %d of %d calls: the table holds %v (%d snapshots added it), want only %s once",
				n, calls, st.Files, snapshotsAdding(t, tab, want.File), want.File)
		}
	}
	return calls
}

// A commit that dies at any of its calls, and is run again (the write step's retry), leaves the table
// holding the version once: a first commit, and a replace.
func TestCommitCrashAtEveryCallConverges(t *testing.T) {
	for _, replace := range []bool{false, true} {
		t.Run(fmt.Sprintf("replace=%v", replace), func(t *testing.T) {
			// setup is a table folder with v1 committed for a replace; want is the version to commit.
			var want *workflow.TableVersion
			setup := func() workflow.TableHome {
				d := newDir(t)
				v1 := version(t, d, "Acme", 3, "first")
				v2 := version(t, d, "Acme", 3, "second")
				want = v1
				if replace {
					if _, err := Open(d).Commit(t.Context(), wants(v1)); err != nil {
						t.Fatal(err)
					}
					want = v2
				}
				return workflow.ProcessedTable(d, LocationOf(d))
			}
			setup() // sets want (the same for every fresh folder: the versions are content-named)
			dyingHome := func(home workflow.TableHome, n int) (workflow.TableHome, *dying) {
				d := &dying{Bucket: home.Bucket, n: n}
				home.Bucket = d
				return home, d
			}
			// The last call writes the version hint, whose failure the commit ignores (it is only a hint).
			calls := crashAtEveryCall(t, setup, dyingHome, want, true)
			t.Logf("a crash at each of %d calls converges", calls)
		})
	}
}

const committerEnv = "SETTLE_ICETABLE_COMMITTER"

// TestCommitterProcess is a committer process of TestCommittersInProcesses (it does nothing otherwise).
func TestCommitterProcess(t *testing.T) {
	spec := os.Getenv(committerEnv)
	if spec == "" {
		t.Skip("run by TestCommittersInProcesses")
	}
	var root string
	var id int
	if _, err := fmt.Sscanf(spec, "%d %s", &id, &root); err != nil {
		t.Fatal(err)
	}
	d, err := store.NewDir("processed", root, store.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	tab := openTest(d)
	// Every process commits the shared batch 1 and four batches of its own.
	for _, b := range []int64{1, int64(100 + 10*id + 1), int64(100 + 10*id + 2), int64(100 + 10*id + 3), int64(100 + 10*id + 4)} {
		file := workflow.TableFile("2024-05-03", "Acme", b, "e"+strconv.FormatInt(b, 10))
		v := &workflow.TableVersion{Provider: "adyen", MerchantAccount: "Acme", Batch: b, SettlementDate: "2024-05-03",
			File: file, Rows: b, Bytes: 10, Source: "s3://raw/" + file, SourceETag: "e" + strconv.FormatInt(b, 10)}
		out, err := tab.Commit(t.Context(), wants(v))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("committed batch %d: %s after %d lost swaps\n", b, out.Action, out.LostSwaps)
	}
}

// Eight processes commit to one table folder at once: the compare-and-swap holds across processes, so
// every batch is in the table once and the shared one was added by exactly one of them.
func TestCommittersInProcesses(t *testing.T) {
	if os.Getenv(committerEnv) != "" {
		t.Skip()
	}
	root := t.TempDir()
	const procs = 8
	cmds := make([]*exec.Cmd, procs)
	outs := make([][]byte, procs)
	errs := make(chan error, procs)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestCommitterProcess$", "-test.v")
		cmds[i].Env = append(os.Environ(), fmt.Sprintf("%s=%d %s", committerEnv, i, root))
	}
	for i, c := range cmds {
		go func() {
			var err error
			outs[i], err = c.CombinedOutput()
			errs <- err
		}()
	}
	for range procs {
		if err := <-errs; err != nil {
			t.Errorf("a committer failed: %v", err)
		}
	}
	d, err := store.NewDir("processed", root)
	if err != nil {
		t.Fatal(err)
	}
	tab := openTest(d)
	st, err := tab.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	added := 0
	lost := 0
	for _, o := range outs {
		for line := range strings.Lines(string(o)) {
			var b int64
			var action string
			var n int
			if _, err := fmt.Sscanf(line, "committed batch %d: %s after %d lost swaps", &b, &action, &n); err == nil {
				lost += n
				if b == 1 && action == "added" {
					added++
				}
			}
		}
	}
	if len(st.Batches) != 1+4*procs || len(st.Files) != 1+4*procs || st.Version != 1+1+4*procs || added != 1 {
		t.Fatalf("%d batches, %d files, version %d, the shared batch added %d times; want %d, %d, %d, once",
			len(st.Batches), len(st.Files), st.Version, added, 1+4*procs, 1+4*procs, 2+4*procs)
	}
	shared := workflow.TableFile("2024-05-03", "Acme", 1, "e1")
	if n := snapshotsAdding(t, tab, shared); n != 1 {
		t.Errorf("%d snapshots added the shared batch", n)
	}
	t.Logf("%d processes, %d commits, %d lost swaps", procs, st.Version-1, lost)
}
