package engine

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Intrinsic functions: only States.Format, States.StringToJson, States.JsonToString and States.Array.
// Arguments are string literals in single quotes, numbers, true/false/null, paths ($ or $$) and nested
// calls. In a string literal \' \{ \} and \\ are escapes; any other backslash is refused, and so is an
// unescaped { or } that is not part of a {} pair (the reserved characters of the AWS documentation).

type expr interface {
	eval(in, ctxObj any) (any, *failure)
}

type litExpr struct{ v any }

func (l litExpr) eval(_, _ any) (any, *failure) { return l.v, nil }

type pathExpr struct{ p refPath }

func (e pathExpr) eval(in, ctxObj any) (any, *failure) {
	root := in
	if e.p.context {
		root = ctxObj
	}
	v, ok := e.p.get(root)
	if !ok {
		return nil, runtimeFailure("The JSONPath '%s' could not be found in the %s", e.p.raw, pathSource(e.p, in))
	}
	return v, nil
}

func pathSource(p refPath, in any) string {
	if p.context {
		return "context object"
	}
	return "input '" + clip(encodeJSON(in)) + "'"
}

// formatLit is a string literal that keeps the positions of its unescaped {} pairs, which are the
// placeholders of a States.Format template.
type formatLit struct {
	parts []string // literal text between placeholders; len(parts) = placeholders + 1
}

func (f formatLit) value() string { return strings.Join(f.parts, "{}") }

type callExpr struct {
	name string
	args []expr
	tmpl *formatLit // States.Format with a literal template
}

var intrinsics = map[string]bool{
	"States.Format":       true,
	"States.StringToJson": true,
	"States.JsonToString": true,
	"States.Array":        true,
}

// parseIntrinsic parses a whole intrinsic invocation such as States.Format('{}', $.a).
func parseIntrinsic(s string) (*callExpr, error) {
	p := &intrinsicParser{s: s}
	c, err := p.call(0)
	if err != nil {
		return nil, fmt.Errorf("intrinsic %q: %w", s, err)
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("intrinsic %q: unexpected %q after the call", s, p.s[p.i:])
	}
	return c, nil
}

type intrinsicParser struct {
	s string
	i int
}

func (p *intrinsicParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *intrinsicParser) call(depth int) (*callExpr, error) {
	if depth >= 10 {
		return nil, fmt.Errorf("more than 10 nested intrinsic functions")
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != '(' {
		p.i++
	}
	name := strings.TrimSpace(p.s[start:p.i])
	if p.i == len(p.s) {
		return nil, fmt.Errorf("missing ( after %q", name)
	}
	if !intrinsics[name] {
		return nil, fmt.Errorf("intrinsic function %s is not supported (only States.Format, States.StringToJson, States.JsonToString, States.Array)", name)
	}
	p.i++ // (
	c := &callExpr{name: name}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
	} else {
		for {
			a, err := p.arg(depth, c, len(c.args))
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.space()
			if p.i >= len(p.s) {
				return nil, fmt.Errorf("missing ) in %s", name)
			}
			if p.s[p.i] == ')' {
				p.i++
				break
			}
			if p.s[p.i] != ',' {
				return nil, fmt.Errorf("unexpected %q in the arguments of %s", p.s[p.i], name)
			}
			p.i++
		}
	}
	return c, c.check()
}

func (p *intrinsicParser) arg(depth int, c *callExpr, pos int) (expr, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("missing argument")
	}
	rest := p.s[p.i:]
	switch {
	case rest[0] == '\'':
		f, err := p.literal()
		if err != nil {
			return nil, err
		}
		if c.name == "States.Format" && pos == 0 {
			c.tmpl = &f
		}
		return litExpr{f.value()}, nil
	case rest[0] == '$':
		start := p.i
		depthBr, quoted := 0, false
		for p.i < len(p.s) {
			ch := p.s[p.i]
			if quoted {
				if ch == '\'' {
					quoted = false
				}
			} else if ch == '\'' {
				quoted = true
			} else if ch == '[' {
				depthBr++
			} else if ch == ']' {
				depthBr--
			} else if depthBr == 0 && (ch == ',' || ch == ')') {
				break
			}
			p.i++
		}
		path, err := parsePath(strings.TrimSpace(p.s[start:p.i]), true)
		if err != nil {
			return nil, err
		}
		return pathExpr{path}, nil
	case strings.HasPrefix(rest, "States."):
		return p.call(depth + 1)
	default:
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != ')' {
			p.i++
		}
		tok := strings.TrimSpace(p.s[start:p.i])
		switch tok {
		case "true":
			return litExpr{true}, nil
		case "false":
			return litExpr{false}, nil
		case "null":
			return litExpr{nil}, nil
		}
		v, err := decodeJSON([]byte(tok))
		if _, isNum := v.(json.Number); err != nil || !isNum {
			return nil, fmt.Errorf("argument %q is not a string literal, number, boolean, null, path or intrinsic call", tok)
		}
		return litExpr{v}, nil
	}
}

// literal reads a single-quoted string literal at p.i.
func (p *intrinsicParser) literal() (formatLit, error) {
	p.i++ // opening quote
	var f formatLit
	var cur strings.Builder
	for p.i < len(p.s) {
		ch := p.s[p.i]
		switch ch {
		case '\'':
			p.i++
			f.parts = append(f.parts, cur.String())
			return f, nil
		case '\\':
			if p.i+1 >= len(p.s) || !strings.ContainsRune(`'{}\`, rune(p.s[p.i+1])) {
				return f, fmt.Errorf("open escape backslash in a string literal (only \\' \\{ \\} \\\\ are escapes)")
			}
			cur.WriteByte(p.s[p.i+1])
			p.i += 2
		case '{':
			if p.i+1 >= len(p.s) || p.s[p.i+1] != '}' {
				return f, fmt.Errorf("unescaped { in a string literal (write \\{ for a literal brace)")
			}
			f.parts = append(f.parts, cur.String())
			cur.Reset()
			p.i += 2
		case '}':
			return f, fmt.Errorf("unescaped } in a string literal (write \\} for a literal brace)")
		default:
			cur.WriteByte(ch)
			p.i++
		}
	}
	return f, fmt.Errorf("unterminated string literal")
}

// check validates argument counts and kinds that are known when the definition is loaded.
func (c *callExpr) check() error {
	switch c.name {
	case "States.Format":
		if len(c.args) == 0 {
			return fmt.Errorf("States.Format needs a template argument")
		}
		if _, isPath := c.args[0].(pathExpr); !isPath && c.tmpl == nil {
			if _, isCall := c.args[0].(*callExpr); !isCall {
				return fmt.Errorf("the States.Format template must be a string")
			}
		}
		if c.tmpl != nil && len(c.tmpl.parts)-1 != len(c.args)-1 {
			return fmt.Errorf("States.Format template has %d {} placeholders but %d values follow", len(c.tmpl.parts)-1, len(c.args)-1)
		}
	case "States.StringToJson":
		if len(c.args) != 1 {
			return fmt.Errorf("States.StringToJson takes exactly one argument")
		}
	case "States.JsonToString":
		if len(c.args) != 1 {
			return fmt.Errorf("States.JsonToString takes exactly one argument")
		}
		if _, ok := c.args[0].(pathExpr); !ok {
			return fmt.Errorf("the argument of States.JsonToString must be a path")
		}
	}
	return nil
}

func (c *callExpr) eval(in, ctxObj any) (any, *failure) {
	vals := make([]any, len(c.args))
	for i, a := range c.args {
		v, f := a.eval(in, ctxObj)
		if f != nil {
			return nil, f
		}
		vals[i] = v
	}
	switch c.name {
	case "States.Format":
		parts := []string(nil)
		if c.tmpl != nil {
			parts = c.tmpl.parts
		} else {
			s, ok := vals[0].(string)
			if !ok {
				return nil, runtimeFailure("the States.Format template is a %s, not a string", typeName(vals[0]))
			}
			parts = strings.Split(s, "{}")
			if len(parts)-1 != len(vals)-1 {
				return nil, runtimeFailure("the States.Format template %q has %d {} placeholders but %d values follow", s, len(parts)-1, len(vals)-1)
			}
		}
		var b strings.Builder
		b.WriteString(parts[0])
		for i, v := range vals[1:] {
			switch t := v.(type) {
			case string:
				b.WriteString(t)
			case nil, bool, json.Number:
				b.WriteString(encodeJSON(t))
			default:
				return nil, runtimeFailure("States.Format argument %d is a %s; only strings, numbers, booleans and null can be formatted", i+2, typeName(v))
			}
			b.WriteString(parts[i+1])
		}
		return b.String(), nil
	case "States.StringToJson":
		s, ok := vals[0].(string)
		if !ok {
			return nil, runtimeFailure("the States.StringToJson argument is a %s, not a string", typeName(vals[0]))
		}
		v, err := decodeJSON([]byte(s))
		if err != nil {
			return nil, runtimeFailure("States.StringToJson: %v", err)
		}
		return v, nil
	case "States.JsonToString":
		return encodeJSON(vals[0]), nil
	case "States.Array":
		return vals, nil
	}
	return nil, runtimeFailure("intrinsic %s is not supported", c.name)
}
