package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strings"
)

// The state machine as a graph, drawn on the server as inline SVG from the definition's JSON: states in
// ranks (the longest path from StartAt), each rank a row, in the order a walk from StartAt that follows
// the main path first meets them, so that the path of a file that succeeds runs straight down the first
// column and the failure handling lies beside and below it. No script lays it out: the page is the
// same with JavaScript off, and a test reads the marks from the HTML.

// graphState is what the graph reads of a state of the definition.
type graphState struct {
	Type    string `json:"Type"`
	Next    string `json:"Next"`
	Default string `json:"Default"`
	Choices []struct {
		Next string `json:"Next"`
	} `json:"Choices"`
	Catch []struct {
		Next        string   `json:"Next"`
		ErrorEquals []string `json:"ErrorEquals"`
	} `json:"Catch"`
}

type graphDefinition struct {
	StartAt string                `json:"StartAt"`
	States  map[string]graphState `json:"States"`
}

// edge is a transition of the definition; kind is next, default, choice or catch.
type edge struct {
	from, to, kind string
}

// Graph is a definition laid out: its states' places and its transitions.
type Graph struct {
	names []string // in layout order
	types map[string]string
	rank  map[string]int
	col   map[string]int
	edges []edge
}

// Layout constants, in SVG user units (pixels at 100%).
const (
	nodeW, nodeH = 200, 44
	colGap       = 36
	rowGap       = 30
	pad          = 12
	laneGap      = 10
)

// ParseGraph reads a state machine definition (Amazon States Language JSON, with or without its ${…}
// placeholders, which only Resource and Parameters use) and lays it out.
func ParseGraph(definition []byte) (*Graph, error) {
	var d graphDefinition
	if err := json.Unmarshal(definition, &d); err != nil {
		return nil, fmt.Errorf("read the state machine definition: %w", err)
	}
	if _, ok := d.States[d.StartAt]; !ok {
		return nil, fmt.Errorf("the state machine definition starts at %q, which is not one of its states", d.StartAt)
	}
	g := &Graph{types: map[string]string{}, rank: map[string]int{}, col: map[string]int{}}
	out := map[string][]edge{}
	for name, s := range d.States {
		g.types[name] = s.Type
		// The main path first: Next, then a Choice's Default, its choices, and last the catchers.
		var es []edge
		if s.Next != "" {
			es = append(es, edge{name, s.Next, "next"})
		}
		if s.Default != "" {
			es = append(es, edge{name, s.Default, "default"})
		}
		for _, c := range s.Choices {
			es = append(es, edge{name, c.Next, "choice"})
		}
		for _, c := range s.Catch {
			es = append(es, edge{name, c.Next, "catch"})
		}
		es = slices.DeleteFunc(es, func(e edge) bool { _, ok := d.States[e.to]; return !ok })
		out[name] = es
	}
	// The order of a depth-first walk from StartAt along the main path first.
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		g.names = append(g.names, n)
		for _, e := range out[n] {
			walk(e.to)
		}
	}
	walk(d.StartAt)
	// States no transition reaches come last, by name.
	var rest []string
	for n := range d.States {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	g.names = append(g.names, rest...)
	for _, n := range g.names {
		g.edges = append(g.edges, out[n]...)
	}
	// Ranks: the longest path from StartAt (a definition may loop: at most one pass per state).
	for range g.names {
		changed := false
		for _, e := range g.edges {
			if e.to == d.StartAt {
				continue
			}
			if r := g.rank[e.from] + 1; r > g.rank[e.to] && r < len(g.names) {
				g.rank[e.to], changed = r, true
			}
		}
		if !changed {
			break
		}
	}
	used := map[int]int{}
	for _, n := range g.names {
		g.col[n] = used[g.rank[n]]
		used[g.rank[n]]++
	}
	return g, nil
}

// States are the definition's state names, in layout order.
func (g *Graph) States() []string { return g.names }

// Marks are what an execution did in the graph.
type Marks struct {
	// Visited are the states the execution entered; Taken the transitions it followed (from → to).
	Visited map[string]bool
	Taken   map[[2]string]bool
	// Failed is the state whose failure ended the execution; Current the state a running execution is in.
	Failed, Current string
	// Link is a state's anchor on the page ("" for none).
	Link func(state string) string
}

// PathOf reads the states an execution entered, in order, into marks.
func PathOf(entered []string) Marks {
	m := Marks{Visited: map[string]bool{}, Taken: map[[2]string]bool{}}
	for i, s := range entered {
		m.Visited[s] = true
		if i > 0 {
			m.Taken[[2]string{entered[i-1], s}] = true
		}
	}
	return m
}

func (g *Graph) xy(n string) (x, y int) {
	return pad + g.col[n]*(nodeW+colGap), pad + g.rank[n]*(nodeH+rowGap)
}

// SVG draws the graph with an execution's marks: a state's class says visited, failed or current, and
// so do its second line of text and its title (a screen reader's name for its link), so that nothing is
// said by colour alone.
func (g *Graph) SVG(m Marks) template.HTML {
	cols, rows := 0, 0
	for _, n := range g.names {
		cols, rows = max(cols, g.col[n]+1), max(rows, g.rank[n]+1)
	}
	lanes := 0
	for _, e := range g.edges {
		if g.rank[e.to]-g.rank[e.from] != 1 {
			lanes++
		}
	}
	width := 2*pad + cols*nodeW + (cols-1)*colGap + (lanes+1)*laneGap
	height := 2*pad + rows*nodeH + (rows-1)*rowGap
	var b strings.Builder
	// A group, not an img: an image's children are presentational, which would hide the states' links
	// from assistive technology.
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="group" aria-labelledby="graph-title" viewBox="0 0 %d %d" width="%d" height="%d">`, width, height, width, height)
	b.WriteString(`<title id="graph-title">The state machine, with the path this execution took</title>`)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>` +
		`<marker id="arrow-taken" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>`)
	lane := 0
	laneX0 := pad + cols*nodeW + (cols-1)*colGap
	for _, e := range g.edges {
		x1, y1 := g.xy(e.from)
		x2, y2 := g.xy(e.to)
		class := "edge edge-" + e.kind
		marker := "arrow"
		if m.Taken[[2]string{e.from, e.to}] {
			class += " taken"
			marker = "arrow-taken"
		}
		var d string
		switch {
		case g.rank[e.to]-g.rank[e.from] == 1: // to the next row: a curve from the bottom to the top
			sx, sy, tx, ty := x1+nodeW/2, y1+nodeH, x2+nodeW/2, y2
			d = fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", sx, sy, sx, sy+rowGap/2, tx, ty-rowGap/2, tx, ty)
		default: // further (or back): around the right of every column, in a lane of its own
			lane++
			lx := laneX0 + lane*laneGap
			sx, sy, tx, ty := x1+nodeW, y1+nodeH/2, x2+nodeW, y2+nodeH/2
			d = fmt.Sprintf("M%d,%d H%d V%d H%d", sx, sy, lx, ty, tx)
		}
		fmt.Fprintf(&b, `<path class="%s" d="%s" marker-end="url(#%s)"><title>%s → %s (%s)</title></path>`,
			class, d, marker, esc(e.from), esc(e.to), e.kind)
	}
	for i, n := range g.names {
		x, y := g.xy(n)
		class, mark := "state state-"+strings.ToLower(g.types[n]), ""
		switch {
		case n == m.Failed:
			class += " visited failed"
			mark = "✗ failed here"
		case n == m.Current:
			class += " visited current"
			mark = "▶ running"
		case m.Visited[n]:
			class += " visited"
			mark = "✓ visited"
		}
		link := ""
		if m.Link != nil && m.Visited[n] {
			link = m.Link(n)
		}
		if link != "" {
			fmt.Fprintf(&b, `<a href="%s" class="state-link">`, esc(link))
		}
		fmt.Fprintf(&b, `<g class="%s" id="node-%d" data-state="%s">`, esc(class), i, esc(n))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="6"/>`, x, y, nodeW, nodeH)
		ty := y + nodeH/2 + 5
		if mark != "" {
			ty = y + 18
		}
		fmt.Fprintf(&b, `<text class="name" x="%d" y="%d">%s</text>`, x+nodeW/2, ty, esc(n))
		if mark != "" {
			fmt.Fprintf(&b, `<text class="mark" x="%d" y="%d">%s</text>`, x+nodeW/2, y+35, esc(mark))
		}
		// The title names the state and its type, and its mark: it is the link's accessible name.
		title := n + " (" + g.types[n] + ")"
		if mark != "" {
			title += ": " + mark
		}
		fmt.Fprintf(&b, `<title>%s</title></g>`, esc(title))
		if link != "" {
			b.WriteString(`</a>`)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text in it went through esc
}

func esc(s string) string { return template.HTMLEscapeString(s) }
