package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The accessibility audit: run in the browser on each page of the console, after its styles applied, so
// that it judges what is rendered rather than the stylesheet. It is our own small set of checks (see
// docs/decisions.md), not axe-core:
//
//   - contrast: every rendered element with text of its own (its text nodes, an input's value or
//     placeholder, a select's choice), its colour against its effective background (its and its
//     ancestors' background colours composited over white; for the graph's SVG text, its fill over the
//     fill of its state's box), by WCAG 2.1's relative luminance: at least 4.5:1, 3:1 for large text
//     (24px, or 18.66px bold). A background image fails the check as not checkable (the console has
//     none); generated content (::after) has its element's colours; hover colours are not looked at;
//   - structure: <html lang>, one <h1>, an accessible name for every form control and button, header
//     cells in every table, no positive tabindex; the graph titled, with a role that keeps its links
//     (not img), its states' status in their text and in the names of their links in Chromium's
//     accessibility tree;
//   - keyboard: Tab, pressed for real, visits every interactive element in document order (the order
//     they are read in), each matching :focus-visible with an outline or shadow that differs from its
//     unfocused one. Whether that ring stands out from its background is not measured.
const auditJS = `
const rgba = s => {
  const m = /^rgba?\(([^)]*)\)$/.exec(String(s).trim());
  if (!m) return null;
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(parseFloat);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
// over composites a colour over an opaque one.
const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat(1);
const lum = c => {
  const l = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
};
const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
const hex = c => '#' + c.slice(0, 3).map(v => Math.round(v).toString(16).padStart(2, '0')).join('');
const desc = el => {
  let d = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
  const cls = el.getAttribute('class');
  if (cls) d += '.' + cls.trim().split(/\s+/).join('.');
  const up = el.parentElement && el.parentElement.closest('[id]');
  return up ? d + ' in #' + up.id : d;
};
// visible: rendered, not hidden (by display, visibility or a closed details element).
const visible = el => el.checkVisibility({visibilityProperty: true}) && el.getClientRects().length > 0;
const skipped = [];
// background is what is behind an element's text: its and its ancestors' background colours,
// composited over the canvas (white); in the graph, the fill of the state's box behind its text.
const background = el => {
  const layers = [];
  let e = el;
  if (el instanceof SVGElement) {
    const box = el.closest('g') && el.closest('g').querySelector(':scope > rect');
    if (box) {
      const cs = getComputedStyle(box), f = rgba(cs.fill);
      if (f) layers.push([f[0], f[1], f[2], f[3] * parseFloat(cs.fillOpacity)]);
      else skipped.push(desc(el) + ': its box is filled with ' + cs.fill);
    }
    e = el.ownerSVGElement;
  }
  for (; e && e.nodeType === 1; e = e.parentElement) {
    const cs = getComputedStyle(e);
    if (cs.backgroundImage !== 'none') skipped.push(desc(el) + ': a background image behind it (' + desc(e) + ')');
    const c = rgba(cs.backgroundColor);
    if (c && c[3] > 0) layers.push(c);
    if (c && c[3] === 1) break;
  }
  let bg = [255, 255, 255, 1];
  for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
  return bg;
};
const contrast = () => {
  const failures = [];
  let checked = 0;
  const check = (el, text, colour, pseudo) => {
    const cs = getComputedStyle(el);
    const bg = background(el);
    const c = rgba(colour);
    if (!c) { skipped.push(desc(el) + ': colour ' + colour); return; }
    const fg = over(c, bg);
    const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const r = ratio(fg, bg);
    checked++;
    if (r < need) failures.push({text: text.trim().replace(/\s+/g, ' ').slice(0, 60), where: desc(el) + pseudo,
      fg: hex(fg), bg: hex(bg), ratio: Math.round(r * 100) / 100, need: need});
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (['SCRIPT', 'STYLE', 'title', 'TITLE', 'OPTION'].includes(el.tagName) || !visible(el)) continue;
    const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.data).join('');
    if (own.trim()) check(el, own, el instanceof SVGElement ? getComputedStyle(el).fill : getComputedStyle(el).color, '');
    if (el.matches('input:not([type]), input[type=text], input[type=search], textarea')) {
      if (el.value) check(el, el.value, getComputedStyle(el).color, ' (value)');
      else if (el.placeholder) check(el, el.placeholder, getComputedStyle(el, '::placeholder').color, '::placeholder');
    }
    if (el.tagName === 'SELECT' && el.selectedOptions.length) check(el, el.selectedOptions[0].text, getComputedStyle(el).color, ' (selected)');
  }
  return {checked, failures, skipped};
};
// named says whether a control has an accessible name: a label with text, aria-label or aria-labelledby
// naming elements with text (a button: its own text too).
const named = el => {
  const t = s => s && s.trim() !== '';
  if (t(el.getAttribute('aria-label'))) return true;
  const by = el.getAttribute('aria-labelledby');
  if (by && by.split(/\s+/).some(id => document.getElementById(id) && t(document.getElementById(id).textContent))) return true;
  if (el.labels && [...el.labels].some(l => t(l.textContent))) return true;
  return el.tagName === 'BUTTON' && t(el.textContent);
};
const structure = () => {
  const p = [];
  if (!document.documentElement.lang) p.push('<html> has no lang');
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) p.push(h1 + ' <h1> elements, want 1');
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button'))
    if (!named(el)) p.push('no accessible name: ' + desc(el));
  for (const t of document.querySelectorAll('table'))
    if (!t.querySelector('th')) p.push('a table without header cells: ' + desc(t));
  for (const el of document.querySelectorAll('[tabindex]'))
    if (el.tabIndex > 0) p.push('positive tabindex ' + el.tabIndex + ': ' + desc(el));
  for (const svg of document.querySelectorAll('svg.graph')) {
    const title = svg.querySelector(':scope > title');
    if (!title || !title.textContent.trim()) p.push('the graph has no title');
    if (!svg.getAttribute('role')) p.push('the graph has no role');
    // An image's children are presentational: its links would be hidden from assistive technology.
    if (svg.getAttribute('role') === 'img' && svg.querySelector('a[href]')) p.push('the graph has role img but holds links');
    if (!svg.getAttribute('aria-labelledby') || svg.getAttribute('aria-labelledby') !== (title && title.id)) p.push('the graph is not labelled by its title');
    for (const g of svg.querySelectorAll('g.visited'))
      if (!/visited|failed here|running/.test(g.textContent)) p.push('state ' + g.dataset.state + ' says its status by colour only');
  }
  return p;
};
// stops are the elements Tab should visit, in document order: links, buttons, inputs, selects, summaries
// and anything else with a tabindex of 0, when rendered and enabled.
const stops = () => {
  const all = [...document.querySelectorAll('*')];
  return all.filter(el => {
    if (el.tabIndex < 0 || el.disabled || !visible(el)) return false;
    if (el.tagName === 'INPUT' && el.type === 'hidden') return false;
    if (el.tagName === 'SUMMARY') return el.parentElement.tagName === 'DETAILS' && el.parentElement.querySelector(':scope > summary') === el;
    if (el.tagName === 'A' || el.tagName === 'a') return el.hasAttribute('href');
    return ['BUTTON', 'INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) || el.hasAttribute('tabindex');
  }).map(el => key(el, all));
};
const key = (el, all) => (all || [...document.querySelectorAll('*')]).indexOf(el) + ' ' + desc(el) + ' "' + (el.textContent || el.value || '').trim().replace(/\s+/g, ' ').slice(0, 30) + '"';
const ring = el => { const cs = getComputedStyle(el); return {outline: cs.outlineStyle + ' ' + cs.outlineWidth + ' ' + cs.outlineColor, shadow: cs.boxShadow}; };
// focused is the element that has the focus, whether a :focus-visible style shows it, and its style
// against the one it has unfocused.
const focused = () => {
  const el = document.activeElement;
  if (!el || el === document.body) return {key: 'body'};
  const on = ring(el);
  const was = el.dataset.ring ? JSON.parse(el.dataset.ring) : null;
  const shows = (on.outline.split(' ')[0] !== 'none' && parseFloat(on.outline.split(' ')[1]) > 0) || on.shadow !== 'none';
  return {key: key(el), visible: el.matches(':focus-visible'), shows: shows, differs: !was || was.outline !== on.outline || was.shadow !== on.shadow, style: on.outline + ' / ' + on.shadow};
};
// unfocused keeps each element's unfocused focus style, to compare with when Tab reaches it.
const unfocused = () => { for (const el of document.querySelectorAll('a, button, input, select, textarea, summary, [tabindex]')) el.dataset.ring = JSON.stringify(ring(el)); return true; };
`

// js runs one of the audit's functions on the page.
func js[T any](t *testing.T, ctx context.Context, call string) T {
	t.Helper()
	return step(t, ctx, call, chromedp.Evaluate[T]("(() => {"+auditJS+"; return "+call+"; })()"))
}

type contrastFailure struct {
	Text, Where, FG, BG string
	Ratio, Need         float64
}

type contrastResult struct {
	Checked  int
	Failures []contrastFailure
	Skipped  []string
}

type focus struct {
	Key                     string
	Visible, Shows, Differs bool
	Style                   string
}

// audit runs the audit on the page open in ctx: contrast, structure, and a walk with Tab over all of it.
func audit(t *testing.T, ctx context.Context) {
	t.Helper()
	c := js[contrastResult](t, ctx, "contrast()")
	if c.Checked < 5 {
		t.Errorf("contrast: only %d texts checked", c.Checked)
	}
	for _, f := range c.Failures {
		t.Errorf("contrast %.2f:1 (want %.1f:1) of %q, %s on %s, at %s", f.Ratio, f.Need, f.Text, f.FG, f.BG, f.Where)
	}
	for _, s := range c.Skipped {
		t.Errorf("contrast not checked: %s", s)
	}
	for _, p := range js[[]string](t, ctx, "structure()") {
		t.Errorf("structure: %s", p)
	}
	graphLinks(t, ctx)
	stops := tabWalk(t, ctx)
	t.Logf("%d texts checked, %d Tab stops visited", c.Checked, stops)
}

// graphLinks checks that each clickable state of the graph is a link in the browser's accessibility tree,
// named with its state and status, as a screen reader would announce it.
func graphLinks(t *testing.T, ctx context.Context) {
	t.Helper()
	type state struct{ Name, Mark string }
	states := js[[]state](t, ctx, `[...document.querySelectorAll("svg.graph a.state-link")].map(a => ({name: a.querySelector("text.name").textContent, mark: a.querySelector("text.mark").textContent}))`)
	if len(states) == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tree, err := chromedp.Call(sctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatalf("the accessibility tree: %v", err)
	}
	var links []string
	for _, n := range tree.Nodes {
		var role, name string
		if n.Ignored || n.Role == nil || n.Name == nil || json.Unmarshal(n.Role.Value, &role) != nil || json.Unmarshal(n.Name.Value, &name) != nil {
			continue
		}
		if role == "link" {
			links = append(links, strings.Join(strings.Fields(name), " "))
		}
	}
	for _, s := range states {
		if !slices.ContainsFunc(links, func(l string) bool { return strings.Contains(l, s.Name) && strings.Contains(l, s.Mark) }) {
			t.Errorf("no link in the accessibility tree names the state %s with its status %q (the links: %q)", s.Name, s.Mark, links)
		}
	}
}

// tabWalk presses Tab from the top of the page as many times as it has stops and checks that the focus
// visits each in document order, showing a focus style each time; it returns how many it visited.
func tabWalk(t *testing.T, ctx context.Context) int {
	t.Helper()
	want := js[[]string](t, ctx, "stops()")
	if len(want) == 0 {
		t.Fatal("nothing to Tab to")
	}
	js[bool](t, ctx, "unfocused()")
	// From the top: the focus on the document itself.
	js[bool](t, ctx, "(document.activeElement && document.activeElement.blur(), window.getSelection().removeAllRanges(), true)")
	for i, w := range want {
		do(t, ctx, "Tab", chromedp.KeyEvent(kb.Tab))
		got := js[focus](t, ctx, "focused()")
		if got.Key != w {
			t.Fatalf("Tab %d focused %s, want %s (the stops in order: %s)", i+1, got.Key, w, strings.Join(want, "; "))
		}
		if !got.Visible || !got.Shows || !got.Differs {
			t.Errorf("Tab %d: %s shows no focus style of its own (:focus-visible %v, style %s)", i+1, got.Key, got.Visible, got.Style)
		}
	}
	return len(want)
}

// tabTo presses Tab until the element sel matches has the focus, at most as many times as the page has
// stops (and once more, past the last).
func tabTo(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	n := len(js[[]string](t, ctx, "stops()"))
	for range n + 1 {
		do(t, ctx, "Tab", chromedp.KeyEvent(kb.Tab))
		if js[bool](t, ctx, fmt.Sprintf("document.activeElement.matches(%q)", sel)) {
			return
		}
	}
	t.Fatalf("Tab never reached %s", sel)
}

// TestBrowserAccessibility audits each page of the console (see auditJS): the executions, a rejected
// file's execution with its graph, its rejected rows, the failed files, the batches with a gap to
// acknowledge, and the page that refuses a form without the token.
func TestBrowserAccessibility(t *testing.T) {
	url := console(t, append(append(sample, bad...), batch60(t))...)
	ctx := browser(t)
	for _, p := range []struct{ name, path, ready string }{
		{"executions", "/", "#executions"},
		{"failed execution", "/executions/" + badRows, "svg.graph"},
		{"rejected rows", "/executions/" + badRows + "/rejected", "#rejects"},
		{"failed files", "/failed", "#messages"},
		{"batches", "/batches", `.timeline [data-batch="59"]`},
	} {
		t.Run(p.name, func(t *testing.T) {
			do(t, ctx, "open "+p.path, chromedp.Navigate(url+p.path), chromedp.WaitVisible(css(p.ready)))
			audit(t, ctx)
		})
	}
	t.Run("refusal", func(t *testing.T) {
		do(t, ctx, "open the rejected file", chromedp.Navigate(url+"/executions/"+badRows), chromedp.WaitVisible(css("#reprocess")))
		js[bool](t, ctx, `(document.querySelector('#reprocess-form input[name="token"]').remove(), true)`)
		do(t, ctx, "reprocess without the token", chromedp.Click(css("#reprocess")))
		waitText(t, ctx, "refused")
		audit(t, ctx)
	})
}

// TestBrowserKeyboard: the console used with the keyboard alone. A search typed and sent with Enter; a
// state of the graph opened with Enter, which leads the focus into its input and output, whose summary
// Space and Enter close and open; a dry run started with Space on its button; a gap acknowledged by
// typing in the form and pressing Enter.
func TestBrowserKeyboard(t *testing.T) {
	url := console(t, append(append(sample, bad...), batch60(t))...)
	ctx := browser(t)
	do(t, ctx, "open the console", chromedp.Navigate(url+"/"), chromedp.WaitVisible(css("#executions")))
	tabTo(t, ctx, `input[name="q"]`)
	do(t, ctx, "type a search", chromedp.KeyEvent("batch_58"), chromedp.KeyEvent(kb.Enter))
	wait(t, ctx, `location.search.includes("q=batch_58") && document.readyState === "complete"`)
	if n := count(t, ctx, "#executions tbody tr"); n != 1 {
		t.Errorf("%d executions after the search, want 1", n)
	}

	do(t, ctx, "open the rejected file", chromedp.Navigate(url+"/executions/"+badRows), chromedp.WaitVisible(css("svg.graph")))
	tabTo(t, ctx, `a.state-link:has(g[data-state="Validate"])`)
	do(t, ctx, "Enter on Validate", chromedp.KeyEvent(kb.Enter))
	wait(t, ctx, `document.getElementById("state-Validate").open`)
	do(t, ctx, "Validate's input shown", chromedp.WaitVisible(css("#state-Validate pre")))
	contains(t, "Validate's input", textOf(t, ctx, "#state-Validate pre"), `"etag": "`+badRows+`"`)
	do(t, ctx, "Tab", chromedp.KeyEvent(kb.Tab))
	if !js[bool](t, ctx, `document.activeElement.matches("#state-Validate > summary")`) {
		t.Fatalf("after Validate was opened, Tab focused %s, not its summary", js[string](t, ctx, "key(document.activeElement)"))
	}
	do(t, ctx, "Space on the summary", chromedp.KeyEvent(" "))
	wait(t, ctx, `!document.getElementById("state-Validate").open`)
	do(t, ctx, "Enter on the summary", chromedp.KeyEvent(kb.Enter))
	wait(t, ctx, `document.getElementById("state-Validate").open`)

	do(t, ctx, "back to the top", chromedp.Navigate(url+"/executions/"+badRows), chromedp.WaitVisible(css("#reprocess")))
	tabTo(t, ctx, `#reprocess-form button[name="dry_run"]`)
	do(t, ctx, "Space on Dry run", chromedp.KeyEvent(" "))
	wait(t, ctx, `document.getElementById("result") !== null && document.readyState === "complete"`)
	contains(t, "the dry run", textOf(t, ctx, "#result"), "Dry run: nothing was done.")
	t.Run("dry run's page", func(t *testing.T) { audit(t, ctx) })

	do(t, ctx, "open the batches", chromedp.Navigate(url+"/batches"), chromedp.WaitVisible(css(`.timeline [data-batch="59"]`)))
	tabTo(t, ctx, `form.ack input[name="by"]`)
	do(t, ctx, "type who", chromedp.KeyEvent("ana"), chromedp.KeyEvent(kb.Tab))
	if !js[bool](t, ctx, `document.activeElement.matches('form.ack input[name="reason"]')`) {
		t.Fatal("Tab after By did not reach Why")
	}
	do(t, ctx, "type why and send", chromedp.KeyEvent("Adyen: number skipped"), chromedp.KeyEvent(kb.Enter))
	wait(t, ctx, `document.getElementById("done") !== null && document.readyState === "complete"`)
	contains(t, "batch 59", textOf(t, ctx, `.timeline [data-batch="59"]`), "acknowledged (ana: Adyen: number skipped)")
}

// TestBrowserAuditFindsProblems: the audit is shown a page with the faults it looks for, and finds each:
// grey text on white, white text on half-transparent black, grey SVG text on a white box, and large
// text judged by 3:1 (its grey passes); no lang, two <h1>, an
// input without a label, a table without header cells, a positive tabindex.
func TestBrowserAuditFindsProblems(t *testing.T) {
	ctx := browser(t)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><html><body style="background:#fff">
<h1>One</h1><h1>Two</h1>
<p id="grey" style="color:#999">grey on white</p>
<p id="large" style="color:#949494;font-size:24px">large grey</p>
<div style="background:rgba(0,0,0,.5)"><span style="color:#fff">white on half black</span></div>
<svg width="200" height="50"><g><rect width="200" height="50" style="fill:#fff"/><text x="10" y="30" style="fill:#aaa">svg grey</text></g></svg>
<input name="q"><table><tr><td>no header</td></tr></table><a href="#" tabindex="2">first</a>
</body></html>`)
	}))
	t.Cleanup(page.Close)
	do(t, ctx, "open the faulty page", chromedp.Navigate(page.URL), chromedp.WaitVisible(css("#grey")))
	c := js[contrastResult](t, ctx, "contrast()")
	var got []string
	for _, f := range c.Failures {
		got = append(got, fmt.Sprintf("%s %s on %s %.2f/%.1f", f.Text, f.FG, f.BG, f.Ratio, f.Need))
	}
	want := []string{"grey on white #999999 on #ffffff 2.85/4.5", "white on half black #ffffff on #808080 3.98/4.5", "svg grey #aaaaaa on #ffffff 2.32/4.5"}
	if !slices.Equal(got, want) {
		t.Errorf("contrast failures %q, want %q", got, want)
	}
	problems := js[[]string](t, ctx, "structure()")
	want = []string{"<html> has no lang", "2 <h1> elements, want 1", "no accessible name: input", "a table without header cells: table", "positive tabindex 2: a"}
	if !slices.Equal(problems, want) {
		t.Errorf("structure problems %q, want %q", problems, want)
	}
}
