package engine

import (
	"fmt"
	"strconv"
	"strings"
)

// refPath is the JSONPath subset the engine accepts: "$", ".name", "['name']" and "[index]" steps,
// on the state's data ("$") or on the context object ("$$"). Everything that can select more than one
// node (wildcards, "..", filters, slices, unions) or call a function is refused when the definition is
// loaded, so a path always names at most one value.
type refPath struct {
	raw     string
	context bool // starts with "$$"
	steps   []pathStep
}

type pathStep struct {
	field   string
	index   int
	isIndex bool
}

// parsePath parses a reference path; context reports whether "$$" paths are allowed here.
func parsePath(s string, context bool) (refPath, error) {
	p := refPath{raw: s}
	if !strings.HasPrefix(s, "$") {
		return p, fmt.Errorf("path %q must start with $", s)
	}
	i := 1
	if strings.HasPrefix(s, "$$") {
		if !context {
			return p, fmt.Errorf("path %q: the context object ($$) is not allowed here", s)
		}
		p.context = true
		i = 2
	}
	for i < len(s) {
		switch s[i] {
		case '.':
			if i+1 < len(s) && s[i+1] == '.' {
				return p, fmt.Errorf("path %q: recursive descent (..) is not supported", s)
			}
			j := i + 1
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			name := s[i+1 : j]
			if name == "" {
				return p, fmt.Errorf("path %q: empty field name", s)
			}
			if name == "*" {
				return p, fmt.Errorf("path %q: wildcards (*) are not supported", s)
			}
			if k := strings.IndexAny(name, "*@?()'\"]$,: \t\n"); k >= 0 {
				return p, fmt.Errorf("path %q: character %q in a field name is not supported (use ['...'] for odd names)", s, name[k])
			}
			p.steps = append(p.steps, pathStep{field: name})
			i = j
		case '[':
			rest := s[i+1:]
			switch {
			case strings.HasPrefix(rest, "'"):
				end := strings.Index(rest[1:], "']")
				if end < 0 {
					return p, fmt.Errorf("path %q: unterminated ['...']", s)
				}
				name := rest[1 : 1+end]
				if strings.Contains(name, "'") {
					return p, fmt.Errorf("path %q: unions and quotes inside ['...'] are not supported", s)
				}
				p.steps = append(p.steps, pathStep{field: name})
				i += 1 + 1 + end + 2
			default:
				end := strings.IndexByte(rest, ']')
				if end < 0 {
					return p, fmt.Errorf("path %q: unterminated [", s)
				}
				inner := rest[:end]
				switch {
				case inner == "*":
					return p, fmt.Errorf("path %q: wildcards (*) are not supported", s)
				case strings.HasPrefix(inner, "?"):
					return p, fmt.Errorf("path %q: filter expressions are not supported", s)
				case strings.ContainsAny(inner, ":,"):
					return p, fmt.Errorf("path %q: slices and unions are not supported", s)
				}
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 || inner != strconv.Itoa(n) {
					return p, fmt.Errorf("path %q: [%s] is not supported (only a non-negative index or ['name'])", s, inner)
				}
				p.steps = append(p.steps, pathStep{index: n, isIndex: true})
				i += 1 + end + 1
			}
		default:
			return p, fmt.Errorf("path %q: unexpected %q at offset %d", s, s[i], i)
		}
	}
	return p, nil
}

// get selects the value the path names in root; ok is false when it does not exist.
func (p refPath) get(root any) (any, bool) {
	v := root
	for _, st := range p.steps {
		if st.isIndex {
			a, ok := v.([]any)
			if !ok || st.index >= len(a) {
				return nil, false
			}
			v = a[st.index]
			continue
		}
		o, ok := v.(*object)
		if !ok {
			return nil, false
		}
		if v, ok = o.get(st.field); !ok {
			return nil, false
		}
	}
	return v, true
}

// set returns a copy of root with value placed at the path, creating missing objects on the way,
// the way ResultPath does. It fails when the path crosses a value that is not an object (or an
// array, for an index in range).
func (p refPath) set(root, value any) (any, error) {
	if len(p.steps) == 0 {
		return value, nil
	}
	root = cloneValue(root)
	cur := root
	for i, st := range p.steps {
		last := i == len(p.steps)-1
		if st.isIndex {
			a, ok := cur.([]any)
			if !ok || st.index >= len(a) {
				return nil, fmt.Errorf("cannot set %s: %s is not an array with an element at that index", p.raw, prefix(p, i))
			}
			if last {
				a[st.index] = value
				return root, nil
			}
			cur = a[st.index]
			continue
		}
		o, ok := cur.(*object)
		if !ok {
			return nil, fmt.Errorf("cannot set %s: %s is a %s, not an object", p.raw, prefix(p, i), typeName(cur))
		}
		if last {
			o.set(st.field, value)
			return root, nil
		}
		next, ok := o.get(st.field)
		if !ok {
			next = newObject()
			o.set(st.field, next)
		}
		cur = next
	}
	return root, nil
}

// prefix renders the first n steps of p, for messages.
func prefix(p refPath, n int) string {
	var b strings.Builder
	b.WriteString("$")
	for _, st := range p.steps[:n] {
		if st.isIndex {
			fmt.Fprintf(&b, "[%d]", st.index)
		} else {
			b.WriteString("." + st.field)
		}
	}
	return b.String()
}
