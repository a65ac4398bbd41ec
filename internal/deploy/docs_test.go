package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/testkit/reporoot"
)

// transcriptMarker precedes, in a Markdown file, a fenced block that quotes a golden transcript: the
// block must be the file, byte for byte. The golden files are themselves checked by the tests that
// produce them (cmd/settle), so a doc cannot show output the product no longer prints.
var transcriptMarker = regexp.MustCompile("(?m)^<!-- transcript: (\\S+) -->\n```[a-z]*\n")

// TestDocsShowTheGoldenTranscripts checks every quoted transcript in README.md and docs/; with -update it
// rewrites the blocks from the golden files.
func TestDocsShowTheGoldenTranscripts(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join(reporoot.Of(t), "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join(reporoot.Of(t), "README.md"))
	quoted := 0
	for _, doc := range docs {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		var out strings.Builder
		rest := text
		for {
			m := transcriptMarker.FindStringSubmatchIndex(rest)
			if m == nil {
				out.WriteString(rest)
				break
			}
			quoted++
			golden := rest[m[2]:m[3]]
			want, err := os.ReadFile(filepath.Join(reporoot.Of(t), golden))
			if err != nil {
				t.Errorf("%s quotes %s: %v", filepath.Base(doc), golden, err)
				out.WriteString(rest)
				break
			}
			body := rest[m[1]:]
			end := 0 // where the closing fence's line starts: at once for an empty block
			if !strings.HasPrefix(body, "```") {
				if end = strings.Index(body, "\n```") + 1; end == 0 {
					t.Errorf("%s: the block quoting %s is not closed", filepath.Base(doc), golden)
					out.WriteString(rest)
					break
				}
			}
			got := body[:end]
			if got != string(want) && !*update {
				t.Errorf("%s: the block quoting %s differs from it; run go test ./internal/deploy -run DocsShow -update", filepath.Base(doc), golden)
			}
			out.WriteString(rest[:m[1]])
			out.Write(want)
			rest = body[end:]
		}
		if *update && out.String() != text {
			if err := os.WriteFile(doc, []byte(out.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if quoted == 0 {
		t.Error("no doc quotes a transcript: the README's quick start should")
	}
}
