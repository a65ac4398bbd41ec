package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestDocsQuoteRealCommands: every settle command line that README.md and docs/*.md quote, in code blocks
// (a transcript's $ lines; in other blocks, the lines that run settle) and in backticks, names a command
// of the CLI's tree (newRoot, as main builds it), and every flag it quotes is a flag of that command or
// one it inherits; a command that takes no argument is not given one. Placeholders (NAME, FILE, ID…)
// stand for arguments, an ellipsis for anything.
//
// The notation of the docs' summaries is understood: [x] is optional ([aws] quotes both the local and
// the stack's command), a|b are alternatives, and after " | " comes another form of the same command
// (NAME | --all-failed), a command next to it (dlq list | show ID), or a program the output is piped to
// (jq, grep…).
func TestDocsQuoteRealCommands(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join("..", "..", "README.md")}, files...)
	a, _, _ := testApp(newTestClock(), false, "")
	root := newRoot(a)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.InitDefaultVersionFlag()
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(filepath.Join("..", ".."), f)
		for _, q := range quotedCommands(string(b)) {
			checked++
			for _, p := range checkCommandLine(root, q.text) {
				t.Errorf("%s:%d: %s\n\tin: %s", name, q.line, p, q.text)
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d settle command lines found in the docs: is the extraction broken?", checked)
	}
}

// TestDocsCommandCheckCatchesDrift: the check above finds an unknown command, an unknown flag (also one
// written before the subcommand it does not belong to), an argument to a command that takes none, and a
// pipe into something that is neither a command nor a known program; and accepts the notation.
func TestDocsCommandCheckCatchesDrift(t *testing.T) {
	a, _, _ := testApp(newTestClock(), false, "")
	root := newRoot(a)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.InitDefaultVersionFlag()
	for line, want := range map[string]string{
		"settle restart NAME":                                   `unknown command "restart" for "settle"`,
		"settle aws dlq purge":                                  `unknown command "purge" for "settle aws dlq"`,
		"settle [aws] status --verbose":                         `unknown flag --verbose for "settle aws status"`,
		"settle replay --from T":                                `unknown command "replay" for "settle"`,
		"settle [aws] replay --from T":                          `unknown command "replay" for "settle"`,
		"settle batches --merchant M | ack":                     `"ack" after "|" is neither a command next to "settle batches" nor a program output is piped to`,
		"settle batches --json ack --merchant M":                `unknown flag --json for "settle batches ack"`,
		"settle status NAME":                                    `"settle status" takes no argument "NAME"`,
		"settle gen -x 3":                                       `unknown flag -x for "settle gen"`,
		"settle aws redrive NAME | --all-failed [--since T] -q": `unknown flag -q for "settle aws redrive"`,
	} {
		if got := strings.Join(checkCommandLine(root, line), "; "); !strings.Contains(got, want) {
			t.Errorf("%s: got %q, want %q", line, got, want)
		}
	}
	for _, line := range []string{
		"settle [aws] status [--since T] [--json]",
		"settle status [--json] | executions [--status S] [--json]",
		"settle redrive NAME | --all-failed [--since T] [--dry-run] [--yes] [--force]",
		"settle [aws] reprocess FILE|NAME [--max-rejected N] [--balance-check on|off] [--replace]",
		"settle dlq list [ingest|failed] | show ID | redrive failed [ID...]",
		"settle batches ack … | check | ledger --rebuild",
		"settle aws status|executions|show|redrive|reprocess|dlq|batches|ledger|verify|replay …",
		"settle gen --rows 1000000 -o big.csv | dump FILE.parquet | zones",
		"settle fetch URL... | webhook sign|replay …",
		"settle executions --json | jq -r 'select(.error == \"ValidationError\") | .name'",
		"settle aws --stack prod --region=eu-west-1 show NAME",
		"settle completion bash|zsh|fish|powershell",
		"settle --version",
		"settle aws X",
		"settle X --help",
		`settle aws batches ack --merchant M --batch N --by you --reason "Adyen: number skipped"`,
	} {
		if p := checkCommandLine(root, line); len(p) > 0 {
			t.Errorf("%s: %v", line, p)
		}
	}
}

// quoted is a command line quoted in a document, at its first line.
type quoted struct {
	line int
	text string
}

// quotedCommands are the settle command lines of a Markdown document: in fenced code blocks the lines
// that start with settle (after a $ prompt, environment assignments or go run ./cmd/settle; only the $
// lines of a transcript), joined across trailing backslashes; elsewhere the backtick spans that start
// with settle, within a paragraph.
func quotedCommands(doc string) []quoted {
	lines := strings.Split(doc, "\n")
	var out []quoted
	var para []string // the prose lines of the current paragraph
	paraStart := 0
	flush := func() {
		for _, q := range backtickSpans(strings.Join(para, "\n")) {
			if isSettle(q.text) {
				out = append(out, quoted{line: paraStart + q.line, text: q.text})
			}
		}
		para = nil
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		fence := strings.TrimSpace(l)
		if strings.HasPrefix(fence, "```") || strings.HasPrefix(fence, "~~~") {
			flush()
			start := i + 1
			j := start
			for j < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[j]), fence[:3]) {
				j++
			}
			out = append(out, blockCommands(lines[start:j], start+1)...)
			i = j
			continue
		}
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		if newBlock.MatchString(l) { // a table row, a heading or a list item: no span crosses into it
			flush()
		}
		if len(para) == 0 {
			paraStart = i + 1
		}
		para = append(para, l)
	}
	flush()
	return out
}

// blockCommands are the settle lines of a code block whose first line is line first of the document.
func blockCommands(block []string, first int) []quoted {
	transcript := slices.ContainsFunc(block, func(l string) bool { return strings.HasPrefix(l, "$ ") })
	var out []quoted
	for i := 0; i < len(block); i++ {
		l, at := strings.TrimSpace(block[i]), first+i
		if transcript {
			if !strings.HasPrefix(l, "$ ") {
				continue
			}
			l = strings.TrimPrefix(l, "$ ")
		}
		for strings.HasSuffix(l, `\`) && i+1 < len(block) {
			i++
			l = strings.TrimSuffix(l, `\`) + " " + strings.TrimSpace(block[i])
		}
		if isSettle(l) {
			out = append(out, quoted{line: at, text: l})
		}
	}
	return out
}

// backtickSpans are the code spans of a paragraph (a run of n backticks to the next run of n), with
// their line in it (from 0) and their text on one line; a table's \| is |.
func backtickSpans(p string) []quoted {
	var out []quoted
	for i := 0; i < len(p); {
		if p[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(p) && p[i+n] == '`' {
			n++
		}
		open := strings.Repeat("`", n)
		end := -1
		for k := i + n; k < len(p); {
			j := strings.Index(p[k:], open)
			if j < 0 {
				break
			}
			j += k
			m := 0
			for j+m < len(p) && p[j+m] == '`' {
				m++
			}
			if m == n {
				end = j
				break
			}
			k = j + m
		}
		if end < 0 {
			i += n
			continue
		}
		text := strings.Join(strings.Fields(strings.ReplaceAll(p[i+n:end], `\|`, "|")), " ")
		out = append(out, quoted{line: strings.Count(p[:i], "\n"), text: text})
		i = end + n
	}
	return out
}

var newBlock = regexp.MustCompile(`^\s*([|#]|[-*+] |[0-9]+\. )`)

var envAssignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// settleWords are a command line's words after settle (ok false when it does not run settle): without a
// leading $ prompt, environment assignments or go run ./cmd/settle.
func settleWords(line string) (words []word, ok bool) {
	ws := shellWords(line)
	for len(ws) > 0 && (ws[0].text == "$" || envAssignment.MatchString(ws[0].text) && !ws[0].optional) {
		ws = ws[1:]
	}
	switch {
	case len(ws) > 0 && ws[0].text == "settle":
		return ws[1:], true
	case len(ws) > 2 && ws[0].text == "go" && ws[1].text == "run" && strings.TrimPrefix(ws[2].text, "./") == "cmd/settle":
		return ws[3:], true
	}
	return nil, false
}

func isSettle(line string) bool {
	_, ok := settleWords(line)
	return ok
}

// word is a word of a command line: optional when it opened with [ (its brackets removed), quoted when
// it was (a quoted word is never a separator).
type word struct {
	text             string
	optional, quoted bool
}

// shellWords splits a line into words as a shell would (quotes group, a # word starts a comment),
// removing [ ] around optional words.
func shellWords(line string) []word {
	var out []word
	var cur strings.Builder
	in, started, quoted := rune(0), false, false
	emit := func() {
		if started {
			s := cur.String()
			w := word{text: s, quoted: quoted}
			if !quoted {
				w.optional = strings.HasPrefix(s, "[")
				w.text = strings.Trim(s, "[]")
			}
			out = append(out, w)
		}
		cur.Reset()
		started, quoted = false, false
	}
	for _, r := range line {
		switch {
		case in != 0:
			if r == in {
				in = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			in, started, quoted = r, true, true
		case r == ' ' || r == '\t':
			emit()
		case r == '#' && !started:
			emit()
			return out
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	emit()
	return out
}

// pipePrograms are what the docs pipe settle's output into.
var pipePrograms = []string{"jq", "grep", "head", "tail", "less", "sort", "uniq", "wc", "xargs", "tee", "cut", "awk", "sed", "column"}

// placeholder is a word that stands for something: NAME, FILE|NAME, ID..., FILE.parquet, <etag>.
var placeholder = regexp.MustCompile(`^(<[^>]*>|[A-Z][A-Z0-9_]*(\.[a-z]+)?)(\|(<[^>]*>|[A-Z][A-Z0-9_]*(\.[a-z]+)?))*(\.\.\.|…)?$`)

func isPlaceholder(s string) bool { return placeholder.MatchString(s) }

func isEllipsis(s string) bool { return s == "…" || s == "..." }

// checkCommandLine checks one quoted command line against the tree, returning its problems.
func checkCommandLine(root *cobra.Command, line string) []string {
	words, ok := settleWords(line)
	if !ok {
		return nil
	}
	problems := map[string]bool{}
	checkWords(root, words, nil, nil, problems)
	var out []string
	for p := range problems {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// checkWords walks words from cmd with the positional arguments and the flags met so far (flags are
// the final command's: cobra parses them all, wherever they are written), branching on alternatives.
func checkWords(cmd *cobra.Command, words []word, args []string, flags []string, problems map[string]bool) {
	end := func() {
		for _, f := range flags {
			if lookupFlag(cmd, f) == nil {
				problems[fmt.Sprintf("unknown flag %s for %q", f, cmd.CommandPath())] = true
			}
		}
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w.text == "|" && !w.quoted:
			end()
			if i+1 == len(words) {
				return
			}
			next := words[i+1]
			if strings.HasPrefix(next.text, "-") { // another form of the same command: NAME | --all-failed
				flags = nil
				continue
			}
			for c := cmd.Parent(); c != nil; c = c.Parent() { // a command next to it, or next to its parents
				if subs := subcommands(c, next.text); subs != nil {
					for _, s := range subs {
						checkWords(s, words[i+2:], nil, nil, problems)
					}
					return
				}
			}
			if !slices.Contains(pipePrograms, next.text) {
				problems[fmt.Sprintf("%q after \"|\" is neither a command next to %q nor a program output is piped to", next.text, cmd.CommandPath())] = true
			}
			return
		case !w.quoted && slices.Contains([]string{"&&", "||", ";"}, w.text): // the next command
			end()
			if i+1 < len(words) && words[i+1].text == "settle" {
				checkWords(cmd.Root(), words[i+2:], nil, nil, problems)
			}
			return
		case !w.quoted && slices.Contains([]string{">", ">>", "<", "2>", "&>"}, w.text): // a redirection and its file
			i++
		case !w.quoted && (strings.HasPrefix(w.text, ">") || strings.HasPrefix(w.text, "2>") || strings.HasPrefix(w.text, "<")):
		case isEllipsis(w.text): // anything, up to the next |
			for i+1 < len(words) && words[i+1].text != "|" {
				i++
			}
		case strings.HasPrefix(w.text, "--") && len(w.text) > 2:
			name, _, hasValue := strings.Cut(w.text[2:], "=")
			flags = append(flags, "--"+name)
			if f := lookupFlag(cmd, "--"+name); f != nil && !hasValue && f.NoOptDefVal == "" {
				i++ // its value
			}
		case strings.HasPrefix(w.text, "-") && len(w.text) > 1 && w.text != "--":
			for k, r := range w.text[1:] {
				flags = append(flags, "-"+string(r))
				if f := lookupFlag(cmd, "-"+string(r)); f != nil && f.NoOptDefVal == "" {
					if k == len(w.text)-2 {
						i++ // its value is the next word
					}
					break // the rest of the word is its value
				}
			}
		default:
			if len(args) == 0 && cmd.HasSubCommands() {
				if subs := subcommands(cmd, w.text); subs != nil {
					rest := words[i+1:]
					for _, s := range subs {
						checkWords(s, rest, nil, flags, problems)
					}
					if w.optional { // [aws]: also without it
						checkWords(cmd, rest, args, flags, problems)
					}
					return
				}
				if isPlaceholder(w.text) && cmd.ValidateArgs([]string{w.text}) != nil { // settle aws X: any command
					return
				}
			}
			args = append(args, w.text)
			if tooManyArgs(cmd, args) {
				end()
				if cmd.HasSubCommands() {
					problems[fmt.Sprintf("unknown command %q for %q", w.text, cmd.CommandPath())] = true
				} else {
					problems[fmt.Sprintf("%q takes no argument %q", cmd.CommandPath(), w.text)] = true
				}
				return
			}
		}
	}
	end()
}

// subcommands are the commands a word names under cmd (a|b: each), nil unless every one is a command.
func subcommands(cmd *cobra.Command, w string) []*cobra.Command {
	var out []*cobra.Command
	for _, name := range strings.Split(w, "|") {
		var found *cobra.Command
		for _, c := range cmd.Commands() {
			if c.Name() == name || slices.Contains(c.Aliases, name) {
				found = c
			}
		}
		if found == nil {
			return nil
		}
		out = append(out, found)
	}
	return out
}

// tooManyArgs reports whether cmd refuses args however many more were added (a command with a minimum
// may be quoted without its arguments).
func tooManyArgs(cmd *cobra.Command, args []string) bool {
	more := slices.Clone(args)
	for range 4 {
		if cmd.ValidateArgs(more) == nil {
			return false
		}
		more = append(more, "X")
	}
	return true
}

// lookupFlag finds a flag (--name or -n) of cmd, its own or inherited, --help included.
func lookupFlag(cmd *cobra.Command, f string) *pflag.Flag {
	cmd.InitDefaultHelpFlag()
	if name, ok := strings.CutPrefix(f, "--"); ok {
		return cmd.Flag(name)
	}
	s := strings.TrimPrefix(f, "-")
	for _, fs := range []*pflag.FlagSet{cmd.Flags(), cmd.PersistentFlags(), cmd.InheritedFlags()} {
		if fl := fs.ShorthandLookup(s); fl != nil {
			return fl
		}
	}
	return nil
}
