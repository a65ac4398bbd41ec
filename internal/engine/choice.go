package engine

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// choiceRule is one Choice rule: a comparison on Variable, or And/Or/Not of nested rules.
type choiceRule struct {
	next string // top-level rules only

	and, or []*choiceRule
	not     *choiceRule

	variable refPath
	op       string
	str      string
	num      float64
	boolean  bool
	path     refPath   // ...Path operators
	pattern  []globSeg // StringMatches
}

var choiceOps = map[string]bool{
	"StringEquals": true, "StringEqualsPath": true, "StringMatches": true,
	"NumericEquals": true, "NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"BooleanEquals": true,
	"IsPresent":     true, "IsNull": true, "IsString": true, "IsNumeric": true, "IsBoolean": true,
}

func parseChoiceRule(raw any, top bool) (*choiceRule, error) {
	o, ok := raw.(*object)
	if !ok {
		return nil, fmt.Errorf("a Choice rule must be an object, got a %s", typeName(raw))
	}
	r := &choiceRule{}
	var combinators, ops []string
	keys := append([]string(nil), o.keys...)
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == "Comment" || k == "Variable":
		case k == "Next":
			if !top {
				return nil, fmt.Errorf("a nested Choice rule must not have Next")
			}
			s, ok := o.vals[k].(string)
			if !ok || s == "" {
				return nil, fmt.Errorf("Next must be a non-empty string")
			}
			r.next = s
		case k == "And" || k == "Or" || k == "Not":
			combinators = append(combinators, k)
		case choiceOps[k]:
			ops = append(ops, k)
		default:
			return nil, fmt.Errorf("Choice rule field %q is not supported", k)
		}
	}
	if top && r.next == "" {
		return nil, fmt.Errorf("a top-level Choice rule needs Next")
	}
	if len(combinators)+len(ops) != 1 {
		return nil, fmt.Errorf("a Choice rule needs exactly one of And, Or, Not or a comparison operator, got %v", append(combinators, ops...))
	}
	_, hasVar := o.get("Variable")
	if len(combinators) == 1 {
		if hasVar {
			return nil, fmt.Errorf("%s must not be combined with Variable", combinators[0])
		}
		switch c := combinators[0]; c {
		case "Not":
			sub, err := parseChoiceRule(o.vals[c], false)
			if err != nil {
				return nil, fmt.Errorf("Not: %w", err)
			}
			r.not = sub
		default:
			list, ok := o.vals[c].([]any)
			if !ok || len(list) == 0 {
				return nil, fmt.Errorf("%s must be a non-empty array of rules", c)
			}
			for i, e := range list {
				sub, err := parseChoiceRule(e, false)
				if err != nil {
					return nil, fmt.Errorf("%s[%d]: %w", c, i, err)
				}
				if c == "And" {
					r.and = append(r.and, sub)
				} else {
					r.or = append(r.or, sub)
				}
			}
		}
		return r, nil
	}
	vs, ok := o.vals["Variable"].(string)
	if !hasVar || !ok {
		return nil, fmt.Errorf("a comparison needs a string Variable")
	}
	p, err := parsePath(vs, true)
	if err != nil {
		return nil, fmt.Errorf("Variable: %w", err)
	}
	r.variable = p
	r.op = ops[0]
	operand := o.vals[r.op]
	switch r.op {
	case "StringEquals", "StringMatches":
		s, ok := operand.(string)
		if !ok {
			return nil, fmt.Errorf("%s needs a string", r.op)
		}
		r.str = s
		if r.op == "StringMatches" {
			r.pattern = parseGlob(s)
		}
	case "StringEqualsPath":
		s, ok := operand.(string)
		if !ok {
			return nil, fmt.Errorf("%s needs a path string", r.op)
		}
		if r.path, err = parsePath(s, true); err != nil {
			return nil, fmt.Errorf("%s: %w", r.op, err)
		}
	case "BooleanEquals", "IsPresent", "IsNull", "IsString", "IsNumeric", "IsBoolean":
		b, ok := operand.(bool)
		if !ok {
			return nil, fmt.Errorf("%s needs true or false", r.op)
		}
		r.boolean = b
	default: // Numeric*
		n, ok := operand.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s needs a number", r.op)
		}
		if r.num, err = n.Float64(); err != nil {
			return nil, fmt.Errorf("%s: %w", r.op, err)
		}
	}
	return r, nil
}

// match evaluates the rule on the Choice state's effective input. Only IsPresent tolerates a
// Variable that does not exist; for every other comparison a missing Variable is a States.Runtime
// error, as in Step Functions. A value of the wrong type simply does not match.
func (r *choiceRule) match(in, ctxObj any) (bool, *failure) {
	switch {
	case r.not != nil:
		m, f := r.not.match(in, ctxObj)
		return !m, f
	case r.and != nil:
		for _, s := range r.and {
			if m, f := s.match(in, ctxObj); f != nil || !m {
				return false, f
			}
		}
		return true, nil
	case r.or != nil:
		for _, s := range r.or {
			if m, f := s.match(in, ctxObj); f != nil || m {
				return m, f
			}
		}
		return false, nil
	}
	root := in
	if r.variable.context {
		root = ctxObj
	}
	v, ok := r.variable.get(root)
	if r.op == "IsPresent" {
		return ok == r.boolean, nil
	}
	if !ok {
		return false, runtimeFailure("invalid path %s: the choice state's condition path references an invalid value", r.variable.raw)
	}
	switch r.op {
	case "StringEquals":
		s, ok := v.(string)
		return ok && s == r.str, nil
	case "StringEqualsPath":
		proot := in
		if r.path.context {
			proot = ctxObj
		}
		other, found := r.path.get(proot)
		if !found {
			return false, runtimeFailure("invalid path %s: the choice state's condition path references an invalid value", r.path.raw)
		}
		s, ok1 := v.(string)
		t, ok2 := other.(string)
		return ok1 && ok2 && s == t, nil
	case "StringMatches":
		s, ok := v.(string)
		return ok && globMatch(r.pattern, s), nil
	case "BooleanEquals":
		b, ok := v.(bool)
		return ok && b == r.boolean, nil
	case "IsNull":
		return (v == nil) == r.boolean, nil
	case "IsString":
		_, is := v.(string)
		return is == r.boolean, nil
	case "IsNumeric":
		_, is := v.(json.Number)
		return is == r.boolean, nil
	case "IsBoolean":
		_, is := v.(bool)
		return is == r.boolean, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return false, nil
	}
	x, err := n.Float64()
	if err != nil {
		return false, nil
	}
	switch r.op {
	case "NumericEquals":
		return x == r.num, nil
	case "NumericLessThan":
		return x < r.num, nil
	case "NumericLessThanEquals":
		return x <= r.num, nil
	case "NumericGreaterThan":
		return x > r.num, nil
	case "NumericGreaterThanEquals":
		return x >= r.num, nil
	}
	return false, nil
}

// globSeg is a piece of a StringMatches pattern: literal text, or a * wildcard (star).
type globSeg struct {
	lit  string
	star bool
}

// parseGlob reads a StringMatches pattern: * matches any run of characters; \* is a literal star and
// \\ a literal backslash (in the JSON text these are written "\\*" and "\\\\").
func parseGlob(s string) []globSeg {
	var segs []globSeg
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			segs = append(segs, globSeg{lit: cur.String()})
			cur.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '\\'):
			cur.WriteByte(s[i+1])
			i++
		case s[i] == '*':
			flush()
			segs = append(segs, globSeg{star: true})
		default:
			cur.WriteByte(s[i])
		}
	}
	flush()
	return segs
}

func globMatch(segs []globSeg, s string) bool {
	if len(segs) == 0 {
		return s == ""
	}
	if !segs[0].star {
		if !strings.HasPrefix(s, segs[0].lit) {
			return false
		}
		return globMatch(segs[1:], s[len(segs[0].lit):])
	}
	rest := segs[1:]
	for len(rest) > 0 && rest[0].star {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return true
	}
	for i := 0; i <= len(s); i++ {
		if globMatch(rest, s[i:]) {
			return true
		}
	}
	return false
}
