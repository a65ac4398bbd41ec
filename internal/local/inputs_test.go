package local_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/workflow"
)

// write puts data at dir/rel, creating folders.
func write(t *testing.T, dir, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func genReport(t *testing.T, cfg gen.Config) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// rawETag is the ETag of a raw-bucket object, unquoted.
func (e *env) rawETag(key string) string {
	e.t.Helper()
	obj, err := e.Raw.Head(e.t.Context(), key)
	if err != nil {
		e.t.Fatalf("raw %s: %v", key, err)
	}
	return obj.ETag
}

// TestInputsOfAFolder: a folder stands for its files, subfolders included, each under its path inside
// the folder; files the ingest rule would not take are listed as skipped; hidden ones are left out.
func TestInputsOfAFolder(t *testing.T) {
	dir := t.TempDir()
	for _, rel := range []string{"b/report.csv", "a/report.csv", "top.CSV", "notes.txt", "report.csv.gz", ".hidden.csv", ".git/x.csv", "a/deeper/x.Csv"} {
		write(t, dir, rel, []byte("x"))
	}
	if err := os.Symlink(filepath.Join(dir, "a", "report.csv"), filepath.Join(dir, "linked.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "a"), filepath.Join(dir, "linked-folder")); err != nil {
		t.Fatal(err)
	}
	single := write(t, t.TempDir(), "named.txt", []byte("x"))
	got, err := local.Inputs([]string{dir, single})
	if err != nil {
		t.Fatal(err)
	}
	type in struct{ rel, key, skip string }
	want := []in{
		{"a/deeper/x.Csv", "incoming/a/deeper/x.Csv", ""},
		{"a/report.csv", "incoming/a/report.csv", ""},
		{"b/report.csv", "incoming/b/report.csv", ""},
		{"linked-folder", "incoming/linked-folder", "a link to a folder: not followed"},
		{"linked.csv", "incoming/linked.csv", ""},
		{"notes.txt", "incoming/notes.txt", "ingest rule"},
		{"report.csv.gz", "incoming/report.csv.gz", "ingest rule"},
		{"top.CSV", "incoming/top.CSV", ""},
	}
	if len(got) != len(want)+1 {
		t.Fatalf("Inputs = %+v, want %d inputs", got, len(want)+1)
	}
	for i, w := range want {
		g := got[i]
		rel, _ := filepath.Rel(dir, g.Path)
		if filepath.ToSlash(rel) != w.rel || g.Key != w.key || (w.skip == "") != (g.Skip == "") || !strings.Contains(g.Skip, w.skip) {
			t.Errorf("input %d = %+v (%s), want %+v", i, g, rel, w)
		}
	}
	// A file named on the command line runs as given, under incoming/<name>.
	if last := got[len(got)-1]; last.Path != single || last.Key != "incoming/named.txt" || last.Skip != "" {
		t.Errorf("named file = %+v", last)
	}
}

// TestSameNameInTwoFolders: two reports of the same name in two folders of one run both succeed, each
// under its own key, and each manifest names the bytes of its own report.
func TestSameNameInTwoFolders(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	dir := t.TempDir()
	r201 := genReport(t, gen.Config{Rows: 40, Seed: 201, Batch: 201})
	r202 := genReport(t, gen.Config{Rows: 30, Seed: 202, Batch: 202})
	write(t, dir, "jan/settlement_detail_report.csv", r201)
	write(t, dir, "feb/settlement_detail_report.csv", r202)
	write(t, dir, "README.txt", []byte("reports from the portal\n"))
	inputs, err := local.Inputs([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, in := range inputs {
		r := e.RunInput(t.Context(), in)
		rel, _ := filepath.Rel(dir, r.File)
		status[filepath.ToSlash(rel)] = r.Status
		if r.Status == local.Succeeded && r.Key != in.Key {
			t.Errorf("%s went to %s, want %s", r.File, r.Key, in.Key)
		}
	}
	wantStatus := map[string]string{"jan/settlement_detail_report.csv": local.Succeeded, "feb/settlement_detail_report.csv": local.Succeeded, "README.txt": local.Skipped}
	if !reflect.DeepEqual(status, wantStatus) {
		t.Errorf("statuses %v, want %v", status, wantStatus)
	}
	for batch, want := range map[int64]struct {
		key  string
		data []byte
	}{201: {"incoming/jan/settlement_detail_report.csv", r201}, 202: {"incoming/feb/settlement_detail_report.csv", r202}} {
		m := e.manifest("PaySettleShopEU", batch)
		if m.Source.Key != want.key || m.Source.ETag != md5Hex(want.data) || e.rawETag(want.key) != md5Hex(want.data) {
			t.Errorf("batch %d: manifest source %s %s, raw object %s; want %s holding the batch's own bytes %s", batch, m.Source.Key, m.Source.ETag, e.rawETag(m.Source.Key), want.key, md5Hex(want.data))
		}
	}
	// The skipped file raised nothing: no execution, no DLQ message, no alert.
	if list, _ := e.Engine.List(); len(list) != 2 || len(e.dlq()) != 0 || len(e.notifications()) != 0 {
		t.Errorf("%d executions, DLQ %v, notifications %v; want 2 and nothing else", len(list), e.dlq(), e.notifications())
	}
}

// TestSameNameAcrossRuns: a later file of the same name never replaces the bytes an earlier run
// committed from; it goes to the name with its ETag, and rerunning either file finds its own object.
func TestSameNameAcrossRuns(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	r201 := genReport(t, gen.Config{Rows: 40, Seed: 201, Batch: 201})
	r202 := genReport(t, gen.Config{Rows: 30, Seed: 202, Batch: 202})
	first := write(t, t.TempDir(), "report.csv", r201)
	second := write(t, t.TempDir(), "report.csv", r202)
	a := e.run(first)
	want(t, a, local.Succeeded)
	b := e.run(second)
	want(t, b, local.Succeeded)
	variant := fmt.Sprintf("incoming/report-%s.csv", md5Hex(r202))
	if a.Key != "incoming/report.csv" || b.Key != variant {
		t.Errorf("keys %s and %s, want incoming/report.csv and %s", a.Key, b.Key, variant)
	}
	if e.rawETag("incoming/report.csv") != md5Hex(r201) || e.rawETag(variant) != md5Hex(r202) {
		t.Error("a raw object does not hold its report's bytes")
	}
	if m := e.manifest("PaySettleShopEU", 201); m.Source.Key != "incoming/report.csv" || m.Source.ETag != md5Hex(r201) {
		t.Errorf("batch 201 manifest source %+v", m.Source)
	}
	if m := e.manifest("PaySettleShopEU", 202); m.Source.Key != variant || m.Source.ETag != md5Hex(r202) {
		t.Errorf("batch 202 manifest source %+v", m.Source)
	}
	for _, p := range []string{first, second} {
		r := e.run(p)
		if r.Status != local.Duplicate || (p == first) != (r.Key == "incoming/report.csv") {
			t.Errorf("rerun of %s: %s under %s, want DUPLICATE under its first key", p, r.Status, r.Key)
		}
	}
	objs, err := e.Raw.List(t.Context(), "")
	if err != nil || len(objs) != 2 {
		t.Errorf("raw bucket holds %v (%v), want the two reports", objs, err)
	}
}
