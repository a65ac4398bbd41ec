package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/engine"
)

// TestUICommand: settle ui on the walkthrough's data folder serves the console on a loopback port and
// prints its URL; an execution's page says what to do in the commands' words (the reprocess that lets
// the rejected file through, with this folder's --data); Ctrl-C (the context) stops it with exit status 0.
func TestUICommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if out, code := localCLI("run", "--data", data, "../../testdata/bad/settlement_detail_report_batch_91_bad_rows.csv"); code != 1 {
		t.Fatalf("run: %d\n%s", code, out)
	}
	r, w := io.Pipe()
	a, _, errb := testApp(engine.RealClock{}, false, "")
	a.stdout = w
	ctx, stop := context.WithCancel(t.Context())
	code := make(chan int, 1)
	go func() { code <- execute(ctx, []string{"ui", "--data", data}, a); w.Close() }()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("no URL printed: %v; stderr %s", err, errb)
	}
	go io.Copy(io.Discard, r)
	url := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/`).FindString(line)
	if url == "" || !strings.HasPrefix(line, "Serving the console of data folder "+data+" at ") {
		t.Fatalf("printed %q", line)
	}
	resp, err := http.Get(url + "executions/" + badRows)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := strings.Join(strings.Fields(string(body)), " ")
	for _, want := range []string{
		"settle reprocess " + badRows + " --data " + data + " --max-rejected 13 commits the others",
		"Data folder " + data,
		filepath.Join(data, "raw", "incoming", "settlement_detail_report_batch_91_bad_rows.csv"),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	stop()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d: %s", c, errb)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("settle ui did not stop")
	}
	if errb.Len() > 0 {
		t.Errorf("stderr: %s", errb)
	}
}

// TestUIListenAddress: --listen must be host:port; only a loopback host goes without a warning.
func TestUIListenAddress(t *testing.T) {
	out, code := localCLI("ui", "--listen", "8080", "--data", t.TempDir())
	if code != exitUsage || !strings.Contains(out, `--listen "8080": want host:port, such as 127.0.0.1:0`) {
		t.Errorf("exit %d: %s", code, out)
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "localhost": true, "::1": true, "127.0.0.2": true, "0.0.0.0": false, "": false, "::": false, "192.168.1.4": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
	if u := consoleURL(&net.TCPAddr{IP: net.IPv4zero, Port: 8080}); u != "http://127.0.0.1:8080/" {
		t.Errorf("a wildcard address opens at %s", u)
	}
	if w := exposedWarning(&net.TCPAddr{IP: net.IPv4zero, Port: 8080}); !strings.Contains(w, "0.0.0.0:8080, which is not a loopback address") {
		t.Errorf("warning %q", w)
	}
}
