package ui

import (
	"strings"
	"testing"

	"github.com/paysettle/settle/statemachine"
)

// TestUIGraphLayout: the definition's success path runs down the first column, one row per state; its
// catchers lie beside the steps they catch; a loop ends; a name is escaped; a state's title says it was
// visited; a definition that starts nowhere is refused.
func TestUIGraphLayout(t *testing.T) {
	g, err := ParseGraph(statemachine.Definition)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"Check", "Already processed?", "Validate", "Transform", "Write", "Done"} {
		if g.rank[s] != i || g.col[s] != 0 {
			t.Errorf("%s at row %d column %d, want row %d column 0", s, g.rank[s], g.col[s], i)
		}
	}
	for step, catcher := range map[string]string{"Check": "Check failed", "Validate": "Validate failed", "Transform": "Transform failed", "Write": "Write failed"} {
		if g.rank[catcher] != g.rank[step]+1 || g.col[catcher] != 1 {
			t.Errorf("%s at row %d column %d, want beside the row after %s", catcher, g.rank[catcher], g.col[catcher], step)
		}
	}
	if len(g.States()) != 19 {
		t.Errorf("%d states", len(g.States()))
	}

	loop := []byte(`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Choice","Choices":[{"Next":"A"}],"Default":"<C>"},"<C>":{"Type":"Succeed"}}}`)
	g, err = ParseGraph(loop)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(g.SVG(PathOf([]string{"A", "B", "A", "B", "<C>"})))
	if strings.Contains(svg, "<C>") || !strings.Contains(svg, `data-state="&lt;C&gt;"`) {
		t.Errorf("a state's name is not escaped:\n%s", svg)
	}
	if !strings.Contains(svg, `<title>&lt;C&gt; (Succeed): ✓ visited</title>`) {
		t.Errorf("a visited state's title (its link's name) does not say so:\n%s", svg)
	}
	if n := strings.Count(svg, `class="edge edge-choice taken"`); n != 1 {
		t.Errorf("%d taken B → A transitions drawn, want 1", n)
	}
	if _, err := ParseGraph([]byte(`{"StartAt":"Z","States":{"A":{"Type":"Succeed"}}}`)); err == nil {
		t.Error("a definition starting at no state was drawn")
	}
	if _, err := ParseGraph([]byte(`not json`)); err == nil {
		t.Error("a text that is not JSON was drawn")
	}
}
