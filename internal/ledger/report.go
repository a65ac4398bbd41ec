package ledger

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// State sums up a status in a word or two, for tables: "ok", "missing 2", "late", "pending 1", "closed".
func (s Status) State() string {
	var parts []string
	if s.MissingBatches > 0 {
		parts = append(parts, fmt.Sprintf("missing %d", s.MissingBatches))
	}
	if s.Late {
		parts = append(parts, "late")
	}
	if s.PendingBatches > 0 {
		parts = append(parts, fmt.Sprintf("pending %d", s.PendingBatches))
	}
	if s.Closed != nil {
		parts = append(parts, "closed")
	}
	if len(parts) == 0 {
		return "ok"
	}
	return strings.Join(parts, ", ")
}

// GapsText lists the gaps for a table: "3 missing, 7-9 pending, 5 acknowledged", or "-".
func (s Status) GapsText() string {
	var parts []string
	for _, g := range s.Gaps {
		word := "pending"
		switch {
		case g.Acknowledged != nil:
			word = "acknowledged"
		case g.Missing:
			word = "missing"
		}
		parts = append(parts, g.Numbers()+" "+word)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// WriteTable prints statuses as a table, one merchant account a line, then what to do about each
// finding.
func WriteTable(w io.Writer, sts []Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MERCHANT ACCOUNT\tBATCHES\tLAST\tNEWEST ARRIVED\tAGE\tCADENCE\tGAPS\tSTATE")
	for _, s := range sts {
		cadence := "-"
		if s.Cadence > 0 {
			cadence = Duration(s.Cadence) + " " + s.CadenceFrom
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Name(), s.Batches, s.LastBatch,
			s.NewestArrived.UTC().Format(time.RFC3339), Duration(s.Age), cadence, s.GapsText(), s.State())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	first := true
	for _, s := range sts {
		for _, a := range s.Advice {
			if first {
				fmt.Fprintln(w)
				first = false
			}
			fmt.Fprintf(w, "%s: %s\n", s.Name(), a)
		}
	}
	return nil
}

// GapWarning is the one line a run ends with when the batches it just committed leave a gap: the
// unacknowledged gaps next to a processed batch (processed lists batch numbers by Status.Name()). It is
// empty when there is none.
func GapWarning(sts []Status, processed map[string][]int64) string {
	var parts []string
	for _, s := range sts {
		done := map[int64]bool{}
		for _, n := range processed[s.Name()] {
			done[n] = true
		}
		if len(done) == 0 {
			continue
		}
		for _, g := range s.Gaps {
			if g.Acknowledged == nil && (done[g.First-1] || done[g.Last+1]) {
				parts = append(parts, s.Name()+" "+batchesText(g.First, g.Last))
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("warning: these files leave gaps in the batch sequence: %s not here yet; a gap counts as missing %s after a later batch arrived (settle batches lists them)",
		strings.Join(parts, "; "), Duration(sts[0].Grace))
}
