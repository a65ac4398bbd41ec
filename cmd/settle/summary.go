package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/workflow"
)

// summary prints one line per file as soon as the file ends (the table has fixed column widths, set
// before the first line), then the totals of what was committed per currency.
type summary struct {
	w      io.Writer
	op     operator
	widths []int
	n      int
	totals map[string]*currencyTotals
	files  int
	rows   int64
}

// currencyTotals are the committed files' sums in one currency.
type currencyTotals struct{ settlement.Sums }

var summaryHeader = []string{"FILE", "STATUS", "EXECUTION", "WRITTEN", "REJECTED", "PARTITIONS"}

// warningsWidth bounds the WARNINGS column: the count and the start of the first warning (settle show
// NAME and --json have them all).
const warningsWidth = 100

// newSummary starts a table whose FILE column fits files.
func newSummary(w io.Writer, op operator, files []string) *summary {
	fileWidth := len(summaryHeader[0])
	for _, f := range files {
		fileWidth = max(fileWidth, len(f))
	}
	return &summary{w: w, op: op, totals: map[string]*currencyTotals{},
		widths: []int{fileWidth, len("DUPLICATE"), len("0123456789abcdef0123456789abcdef-p1"), len("WRITTEN"), len("REJECTED")}}
}

func (s *summary) line(cells []string) {
	var b strings.Builder
	for i, c := range cells {
		if i == len(cells)-1 {
			b.WriteString(c)
			break
		}
		b.WriteString(c)
		if pad := s.widths[i] - len([]rune(c)); pad > 0 {
			b.WriteString(strings.Repeat(" ", pad))
		}
		b.WriteString("  ")
	}
	fmt.Fprintln(s.w, strings.TrimRight(b.String(), " "))
}

// add prints a file's line (the header first).
func (s *summary) add(r local.FileResult) {
	if s.n == 0 {
		s.line(summaryHeader)
	}
	s.n++
	written, rejected := fmt.Sprint(r.RowsWritten), fmt.Sprint(r.RowsRejected)
	if r.Status == local.Duplicate || r.Status == local.Skipped || r.Status == local.Running {
		written, rejected = "-", "-" // nothing was written or judged by this delivery
	}
	file := displayName(s.op, r)
	msg := s.op.text(r.Error)
	if r.RejectedBefore {
		msg += " (rejected before, not run again: " + s.op.command("reprocess "+r.Execution) + " runs it again)"
	}
	s.line([]string{file, r.Status, ops.OrDash(r.Execution), written, rejected, ops.OrDash(strings.Join(r.Partitions, ","))})
	// A file's warnings and error follow its line, indented and wrapped, so that the table stays
	// narrow whatever they say.
	if w := warningsCell(r.Warnings); w != "" {
		s.note("warnings: " + w)
	}
	if msg != "" {
		s.note(msg)
	}
	if r.Status == local.Succeeded {
		s.commit(r)
	}
}

// displayName is where a result's file is, as the table names it: the path given, or for a file of the
// raw bucket (a redrive, a reprocess, a fetched report) where it is in the data folder.
func displayName(op operator, r local.FileResult) string {
	if r.File == r.Key && r.Key != "" {
		return op.file(rawRef(r.Key))
	}
	return r.File
}

// rawRef is an object of the local raw bucket.
func rawRef(key string) workflow.FileRef { return workflow.FileRef{Bucket: local.RawBucket, Key: key} }

// noteWidth is where a file's warnings and error lines wrap.
const noteWidth = 120

// note prints a line about the file above it, indented and wrapped at word boundaries.
func (s *summary) note(text string) {
	const indent = "  "
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > noteWidth {
			fmt.Fprintln(s.w, line)
			line = indent + "  "
		} else if len(line) > len(indent) && !strings.HasSuffix(line, "  ") {
			line += " "
		}
		line += word
	}
	fmt.Fprintln(s.w, line)
}

// warningsCell is the number of warnings and the first one, cut short.
func warningsCell(ws []settlement.Warning) string {
	if len(ws) == 0 {
		return ""
	}
	var n int64
	for _, w := range ws {
		n += max(w.Count, 1)
	}
	c := fmt.Sprintf("%d %s: %s", n, ws[0].Rule, ws[0].Message)
	if r := []rune(c); len(r) > warningsWidth {
		c = string(r[:warningsWidth-1]) + "…"
	}
	return c
}

func (s *summary) commit(r local.FileResult) {
	s.files++
	s.rows += r.RowsWritten
	for _, c := range r.Currencies {
		t := s.totals[c.Currency]
		if t == nil {
			t = &currencyTotals{}
			s.totals[c.Currency] = t
		}
		t.Add(c)
	}
}

// cells are the totals as table cells, with the currency's minor units.
func (t *currencyTotals) cells(code string) string {
	if t.Err != nil {
		return fmt.Sprintf("%s\t(%v)\t\t\t", code, t.Err)
	}
	gross, fees, net, payout := t.Format(code)
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", code, gross, fees, net, payout)
}

// end prints the totals per currency of the committed files.
func (s *summary) end() {
	if s.files == 0 {
		return
	}
	fmt.Fprintf(s.w, "\nCommitted %s, %d rows. Totals per currency:\n", plural(s.files, "file", "files"), s.rows)
	codes := make([]string, 0, len(s.totals))
	for c := range s.totals {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	tw := table(s.w)
	fmt.Fprintln(tw, "  CURRENCY\tGROSS\tFEES\tNET\tPAYOUT")
	for _, c := range codes {
		fmt.Fprintf(tw, "  %s\n", s.totals[c].cells(c))
	}
	tw.Flush()
}
