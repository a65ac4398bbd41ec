package ui

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

// page is what every page's layout shows.
type page struct {
	Title, Where, Token, Nav string
	// Refresh reloads the page every so many seconds (a running execution's page): 0 for never.
	Refresh int
}

func (s *Server) page(title, nav string) page {
	return page{Title: title, Where: s.o.Where, Token: s.o.Token, Nav: nav}
}

var pageNames = []string{"executions", "execution", "batches", "failed", "rejected", "result", "confirm", "actions", "error"}

func (s *Server) parse() error {
	funcs := template.FuncMap{
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.UTC().Format(time.RFC3339)
		},
		"dur": func(x ops.Execution) string {
			if x.Stop.IsZero() || x.Start.IsZero() {
				return "-"
			}
			return x.Stop.Sub(x.Start).Round(time.Millisecond).String()
		},
		"since": func(from, t time.Time) string { return t.Sub(from).Round(time.Millisecond).String() },
		"file":  func(f workflow.FileRef) string { return s.o.File(f) },
		"out":   func(key string) string { return s.o.Output(key) },
		"text":  func(t string) string { return s.o.Text(t) },
		"cmd":   func(verb string) string { return s.o.Command(verb) },
		"dash":  ops.OrDash,
		"lower": strings.ToLower,
		"path":  url.PathEscape,
		"inc":   func(n int) int { return n + 1 },
		"dec":   func(n int) int { return n - 1 },
		"failedStatus": func(st string) bool {
			return states.Unsuccessful(st)
		},
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return err
	}
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(files, "templates/"+name+".html")
		if err != nil {
			return err
		}
		s.pages[name] = t
	}
	return nil
}

// render writes a page, or a plain error when the template fails (before anything was written).
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "layout.html", data); err != nil {
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// fail shows an error of the operator (one sentence for a person, as the commands print it).
func (s *Server) fail(w http.ResponseWriter, status int, err error) {
	s.say(w, status, s.o.Text(err.Error()))
}

// say shows a sentence on the error page.
func (s *Server) say(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "error", struct {
		page
		Error string
	}{s.page("Error", ""), msg})
}

// executionsPage is the list of executions with the status page's counts on top.
type executionsPage struct {
	page
	Status     *ops.Status
	Statuses   []string
	Counts     []count
	Unresolved int
	Oldest     *ops.Execution
	List       []ops.Execution
	// The filter: status, since (as the commands take it) and a search in file names and ETags.
	FStatus, FSince, FQuery string
	Limit                   int
	More                    bool
}

// count is how many executions have a status, or messages wait in a queue.
type count struct {
	Status string
	N      int
}

const listLimit = 100

// listRefresh is how often the executions page reloads itself while an execution runs (seconds): less
// often than a running execution's own page, since it reads the status and the list each time.
const listRefresh = 5

func (s *Server) executions(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := pageContext(r)
	defer cancel()
	q := r.URL.Query()
	p := executionsPage{page: s.page("Executions", "executions"), Statuses: states.Statuses,
		FStatus: strings.ToUpper(q.Get("status")), FSince: q.Get("since"), FQuery: strings.TrimSpace(q.Get("q")), Limit: listLimit}
	if !q.Has("since") {
		p.FSince = s.o.Since
	}
	var since time.Time
	if p.FSince != "" && s.o.ParseSince != nil {
		t, err := s.o.ParseSince(p.FSince)
		if err != nil {
			s.fail(w, http.StatusBadRequest, err)
			return
		}
		since = t
	}
	st, err := s.o.Operator.Status(ctx, since)
	if err != nil {
		s.fail(w, http.StatusBadGateway, err)
		return
	}
	p.Status, p.Unresolved = st, st.Unresolved()
	for _, status := range states.Statuses {
		p.Counts = append(p.Counts, count{status, st.Counts[status]})
	}
	if len(st.Running) > 0 {
		p.Oldest = &st.Running[0]
		p.Refresh = listRefresh // until they end: their status changes here
	}
	limit := listLimit + 1
	if p.FQuery != "" {
		limit = 0 // the search reads them all
	}
	list, err := s.o.Operator.Executions(ctx, p.FStatus, since, limit)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	if p.FQuery != "" {
		needle := strings.ToLower(p.FQuery)
		list = slices.DeleteFunc(list, func(x ops.Execution) bool {
			return !strings.Contains(strings.ToLower(x.File.Key), needle) && !strings.Contains(strings.ToLower(x.File.ETag), needle) &&
				!strings.Contains(strings.ToLower(x.Name), needle)
		})
	}
	if len(list) > listLimit {
		list, p.More = list[:listLimit], true
	}
	p.List = list
	s.render(w, http.StatusOK, "executions", p)
}

// executionPage is one execution: the graph, the diagnosis, the actions, the batch, the history.
type executionPage struct {
	page
	D         *ops.Detail
	Graph     template.HTML
	Advice    string
	Message   string
	DataError bool
	// States are the visited states with the input they entered with and the output they left with.
	States []stateIO
	Totals []totalsRow
	// Done is the outcome of the action that led here (a redirect after a POST).
	Done string
	// Rejected is the number of rejected rows a reprocess would allow (the remedy's); Rows the rejected
	// rows file, when there is one.
	Rejected int64
	Rows     string
}

type stateIO struct {
	Name, Anchor          string
	Entered               time.Time
	InputID, OutputID     int64
	Input, Output         string
	InputCut, OutputCut   bool
	InputSize, OutputSize int
}

// shown is how much of a state's input or output the page shows; the rest is downloaded.
const shown = 2000

func cut(s string) (string, bool) {
	if len(s) <= shown {
		return s, false
	}
	i := shown
	for i > 0 && !utf8Start(s[i]) {
		i--
	}
	return s[:i], true
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func stateAnchor(name string) string {
	var b strings.Builder
	b.WriteString("state-")
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// pretty indents a JSON text, or returns it as it is.
func pretty(s string) string {
	var b bytes.Buffer
	if json.Indent(&b, []byte(s), "", "  ") != nil {
		return s
	}
	return b.String()
}

func (s *Server) execution(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := pageContext(r)
	defer cancel()
	name := r.PathValue("name")
	d, err := s.o.Operator.Show(ctx, name)
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, ops.ErrNoExecution) {
			status = http.StatusNotFound
		}
		s.fail(w, status, err)
		return
	}
	p := executionPage{page: s.page("Execution "+d.Name, "executions"), D: d, Advice: s.o.Advice(d), Message: s.o.Cause(s.o.Text(d.Message())),
		DataError: workflow.IsDataError(d.Error), Done: r.URL.Query().Get("done"), Rejected: d.Remedy.Rejected}
	var entered []string
	open := map[string]int{} // a state's entry in States, until it is exited
	for _, ev := range d.Events {
		switch {
		case strings.HasSuffix(ev.Type, "StateEntered"):
			entered = append(entered, ev.State)
			in, c := cut(pretty(ev.Input))
			p.States = append(p.States, stateIO{Name: ev.State, Anchor: stateAnchor(ev.State), Entered: ev.Time, InputID: ev.ID,
				Input: in, InputCut: c, InputSize: len(ev.Input)})
			open[ev.State] = len(p.States) - 1
		case strings.HasSuffix(ev.Type, "StateExited"):
			if i, ok := open[ev.State]; ok {
				out, c := cut(pretty(ev.Output))
				p.States[i].OutputID, p.States[i].Output, p.States[i].OutputCut, p.States[i].OutputSize = ev.ID, out, c, len(ev.Output)
				delete(open, ev.State)
			}
		}
	}
	// A state entered more than once (a redrive) keeps one anchor: its first entry's.
	seen := map[string]bool{}
	for i := range p.States {
		if seen[p.States[i].Name] {
			p.States[i].Anchor = ""
		}
		seen[p.States[i].Name] = true
	}
	m := PathOf(entered)
	if d.Failed() {
		m.Failed = d.FailedStep
	}
	if d.Status == states.Running && len(entered) > 0 {
		m.Current = entered[len(entered)-1]
		p.Refresh = 2
	}
	m.Link = func(state string) string { return "#" + stateAnchor(state) }
	p.Graph = s.graph.SVG(m)
	if d.Manifest != nil {
		p.Totals = totals(d.Manifest.Currencies)
		if d.Manifest.Counts.RowsRejected > 0 && d.Manifest.RejectsKey != "" {
			p.Rows = d.Manifest.RejectsKey
		}
	}
	if p.Rows == "" && d.Error == workflow.ErrNameValidation {
		p.Rows = rejectsKey(d)
	}
	s.render(w, http.StatusOK, "execution", p)
}

// rejectsKey is where a rejected file's rejected rows are: by the batch the check step found (its
// output, in the history) and the file's ETag, as Validate names them.
func rejectsKey(d *ops.Detail) string {
	for _, ev := range d.Events {
		if ev.Output == "" {
			continue
		}
		var out struct {
			Check *workflow.CheckResult `json:"check"`
		}
		if json.Unmarshal([]byte(ev.Output), &out) == nil && out.Check != nil {
			return workflow.RejectsKey(out.Check, d.File.ETag)
		}
	}
	return ""
}

// eventData downloads a state's input or output whole.
func (s *Server) eventData(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := pageContext(r)
	defer cancel()
	name, part := r.PathValue("name"), r.PathValue("part")
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || part != "input" && part != "output" {
		http.NotFound(w, r)
		return
	}
	d, err := s.o.Operator.Show(ctx, name)
	if err != nil {
		s.fail(w, http.StatusNotFound, err)
		return
	}
	for _, ev := range d.Events {
		if ev.ID != id {
			continue
		}
		body := ev.Input
		if part == "output" {
			body = ev.Output
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%d-%s.json"`, safeName(name), id, part))
		w.Write([]byte(pretty(body)))
		return
	}
	http.NotFound(w, r)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// totalsRow is a currency's totals as the summary of settle run prints them: gross (credit − debit),
// fees, net of the rows other than payouts, payout; exact decimals with the currency's minor units.
type totalsRow struct {
	Currency, Gross, Fees, Net, Payout string
	Err                                string
}

func totals(cs []settlement.Totals) []totalsRow {
	var out []totalsRow
	for _, c := range cs {
		var sums settlement.Sums
		sums.Add(c)
		row := totalsRow{Currency: c.Currency}
		if sums.Err != nil {
			row.Err = sums.Err.Error()
		} else {
			row.Gross, row.Fees, row.Net, row.Payout = sums.Format(c.Currency)
		}
		out = append(out, row)
	}
	return out
}

// rejectedPage is a file's rejected rows, a page at a time.
type rejectedPage struct {
	page
	Name, Key  string
	Rows       []settlement.Reject
	Page, Last int
	Total      int
}

const rowsPerPage = 50

func (s *Server) rejected(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := pageContext(r)
	defer cancel()
	name := r.PathValue("name")
	d, err := s.o.Operator.Show(ctx, name)
	if err != nil {
		s.fail(w, http.StatusNotFound, err)
		return
	}
	key := ""
	if d.Manifest != nil {
		key = d.Manifest.RejectsKey
	}
	if key == "" {
		key = rejectsKey(d)
	}
	if key == "" {
		s.fail(w, http.StatusNotFound, fmt.Errorf("execution %s has no rejected rows file", name))
		return
	}
	b, err := s.o.Operator.Processed()
	if err != nil {
		s.fail(w, http.StatusBadGateway, err)
		return
	}
	rc, err := b.Open(ctx, key, "")
	if err != nil {
		s.fail(w, http.StatusNotFound, fmt.Errorf("cannot read the rejected rows file %s: %w", s.o.Output(key), err))
		return
	}
	defer rc.Close()
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	p := rejectedPage{page: s.page("Rejected rows of "+name, "executions"), Name: name, Key: key, Page: max(n, 1)}
	first, last := (p.Page-1)*rowsPerPage, p.Page*rowsPerPage
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		if p.Total >= first && p.Total < last {
			var rj settlement.Reject
			if err := json.Unmarshal(sc.Bytes(), &rj); err == nil {
				p.Rows = append(p.Rows, rj)
			}
		}
		p.Total++
	}
	if err := sc.Err(); err != nil {
		s.fail(w, http.StatusBadGateway, fmt.Errorf("read the rejected rows file %s: %w", s.o.Output(key), err))
		return
	}
	p.Last = max(1, (p.Total+rowsPerPage-1)/rowsPerPage)
	s.render(w, http.StatusOK, "rejected", p)
}

// batchesPage is every merchant account's ledger: its batches in order of number, with gaps, lateness
// and acknowledgements, and what to do.
type batchesPage struct {
	page
	Accounts []account
	Done     string
}

type account struct {
	ledger.Status
	Timeline []slot
	Merchant string
}

// slot is a batch number of the timeline: committed (with its arrival), or in a gap.
type slot struct {
	Number  int64
	Arrived time.Time
	Rows    int64
	// Gap: missing (past the grace period), pending (within it) or acknowledged; "" for a batch.
	Gap  string
	Late bool // arrived later than the cadence after the batch before it
	Ack  *ledger.Ack
}

// maxSlots bounds a timeline: the newest numbers.
const maxSlots = 60

func (s *Server) batches(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := pageContext(r)
	defer cancel()
	sts, err := s.o.Operator.Batches(ctx, "")
	if err != nil {
		s.fail(w, http.StatusBadGateway, err)
		return
	}
	p := batchesPage{page: s.page("Batches", "batches"), Done: r.URL.Query().Get("done")}
	b, err := s.o.Operator.Processed()
	if err != nil {
		s.fail(w, http.StatusBadGateway, err)
		return
	}
	accounts, err := workflow.LoadAccounts(ctx, b, "")
	if err != nil {
		s.fail(w, http.StatusBadGateway, err)
		return
	}
	ledgers := map[string]*ledger.Ledger{}
	for _, a := range accounts {
		ledgers[a.Ledger.Provider+"/"+a.Ledger.MerchantAccount] = a.Ledger
	}
	for _, st := range sts {
		p.Accounts = append(p.Accounts, account{Status: st, Merchant: st.MerchantAccount, Timeline: timeline(ledgers[st.Name()], st)})
	}
	s.render(w, http.StatusOK, "batches", p)
}

// timeline is an account's batch numbers from its first to its last, a gap's numbers marked with what
// the ledger's analysis says of them.
func timeline(l *ledger.Ledger, st ledger.Status) []slot {
	if l == nil || len(l.Batches) == 0 {
		return nil
	}
	bs := slices.Clone(l.Batches)
	sort.Slice(bs, func(i, j int) bool { return bs[i].Number < bs[j].Number })
	byNumber := map[int64]ledger.Batch{}
	for _, b := range bs {
		byNumber[b.Number] = b
	}
	gapOf := func(n int64) (string, *ledger.Ack) {
		for _, g := range st.Gaps {
			if n >= g.First && n <= g.Last {
				switch {
				case g.Acknowledged != nil:
					return "acknowledged", g.Acknowledged
				case g.Missing:
					return "missing", nil
				default:
					return "pending", nil
				}
			}
		}
		return "missing", nil
	}
	first, last := bs[0].Number, bs[len(bs)-1].Number
	if last-first+1 > maxSlots {
		first = last - maxSlots + 1
	}
	var out []slot
	var prev time.Time
	for n := first; n <= last; n++ {
		b, ok := byNumber[n]
		if !ok {
			g, ack := gapOf(n)
			out = append(out, slot{Number: n, Gap: g, Ack: ack})
			continue
		}
		sl := slot{Number: n, Arrived: b.Arrived, Rows: b.Rows}
		if st.Cadence > 0 && !prev.IsZero() && b.Arrived.Sub(prev) > st.Cadence+st.Grace {
			sl.Late = true
		}
		prev = b.Arrived
		out = append(out, sl)
	}
	return out
}

// failedPage is the dead-letter queues' messages, read without consuming them.
type failedPage struct {
	page
	Messages []ops.DLQMessage
	Queues   []count // the dead-letter queues the target has, with their messages
}

func (s *Server) failedFiles(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := pageContext(r)
	defer cancel()
	msgs, err := s.o.Operator.DLQList(ctx, "", 1000)
	if err != nil {
		s.fail(w, http.StatusBadGateway, err)
		return
	}
	p := failedPage{page: s.page("Failed files", "failed"), Messages: msgs}
	for _, q := range s.o.Operator.Queues.DeadLetterQueues() {
		n := 0
		for _, m := range msgs {
			if m.Queue == q {
				n++
			}
		}
		p.Queues = append(p.Queues, count{q, n})
	}
	s.render(w, http.StatusOK, "failed", p)
}
