package engine

import (
	"fmt"
	"strings"
)

// A payload template (Parameters, ResultSelector): a JSON value in which every object key ending in
// ".$" has a string value that is a path on the data ("$..."), a path on the context object ("$$..."),
// or an intrinsic call; the key loses its ".$" and takes the selected value. Objects nested in arrays
// are templated too.
type template interface {
	eval(in, ctxObj any) (any, *failure)
}

type staticTmpl struct{ v any }

func (t staticTmpl) eval(_, _ any) (any, *failure) { return cloneValue(t.v), nil }

type objectTmpl struct {
	keys  []string
	field []string // the key as written, for messages
	vals  []template
}

func (t *objectTmpl) eval(in, ctxObj any) (any, *failure) {
	o := newObject()
	for i, k := range t.keys {
		v, f := t.vals[i].eval(in, ctxObj)
		if f != nil {
			if !strings.HasSuffix(t.field[i], ".$") {
				return nil, f
			}
			if pe, ok := t.vals[i].(exprTmpl).e.(pathExpr); ok {
				// The wording of Step Functions' own cause.
				return nil, runtimeFailure("The JSONPath '%s' specified for the field '%s' could not be found in the %s", pe.p.raw, t.field[i], pathSource(pe.p, in))
			}
			return nil, &failure{name: f.name, cause: fmt.Sprintf("field '%s': %s", t.field[i], f.cause)}
		}
		o.set(k, v)
	}
	return o, nil
}

type arrayTmpl []template

func (t arrayTmpl) eval(in, ctxObj any) (any, *failure) {
	a := make([]any, len(t))
	for i, e := range t {
		v, f := e.eval(in, ctxObj)
		if f != nil {
			return nil, f
		}
		a[i] = v
	}
	return a, nil
}

type exprTmpl struct{ e expr }

func (t exprTmpl) eval(in, ctxObj any) (any, *failure) { return t.e.eval(in, ctxObj) }

// compileTemplate turns a decoded Parameters/ResultSelector value into a template.
func compileTemplate(v any) (template, error) {
	switch t := v.(type) {
	case *object:
		ot := &objectTmpl{}
		seen := map[string]string{}
		for _, k := range t.keys {
			val := t.vals[k]
			key := k
			var sub template
			if strings.HasSuffix(k, ".$") {
				key = strings.TrimSuffix(k, ".$")
				s, ok := val.(string)
				if !ok {
					return nil, fmt.Errorf("field %q: the value of a key ending in .$ must be a string, got a %s", k, typeName(val))
				}
				e, err := compileExpr(s)
				if err != nil {
					return nil, fmt.Errorf("field %q: %w", k, err)
				}
				sub = exprTmpl{e}
			} else {
				var err error
				if sub, err = compileTemplate(val); err != nil {
					return nil, err
				}
			}
			if prev, dup := seen[key]; dup {
				return nil, fmt.Errorf("fields %q and %q both produce %q", prev, k, key)
			}
			seen[key] = k
			ot.keys = append(ot.keys, key)
			ot.field = append(ot.field, k)
			ot.vals = append(ot.vals, sub)
		}
		return ot, nil
	case []any:
		at := make(arrayTmpl, len(t))
		for i, e := range t {
			sub, err := compileTemplate(e)
			if err != nil {
				return nil, err
			}
			at[i] = sub
		}
		return at, nil
	default:
		return staticTmpl{v}, nil
	}
}

// compileExpr compiles the value of a ".$" field: a path, a context path or an intrinsic call.
func compileExpr(s string) (expr, error) {
	if strings.HasPrefix(s, "$") {
		p, err := parsePath(s, true)
		if err != nil {
			return nil, err
		}
		return pathExpr{p}, nil
	}
	if strings.HasPrefix(s, "States.") {
		return parseIntrinsic(s)
	}
	return nil, fmt.Errorf("%q is neither a path ($...), a context path ($$...) nor an intrinsic function (States....)", s)
}
