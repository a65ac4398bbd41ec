package deploy

import (
	"bufio"
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readSamconfig reads samconfig.toml's subset of TOML: [table.names] and key = "string" | bool |
// number lines, with comments. Anything else is an error, so the file stays this simple.
func readSamconfig(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, "samconfig.toml")))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			if out[section] == nil {
				out[section] = map[string]any{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("samconfig.toml:%d: %q is not key = value", n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		var val any
		switch {
		case strings.HasPrefix(v, `"`):
			s, err := strconv.Unquote(v)
			if err != nil {
				t.Fatalf("samconfig.toml:%d: %v", n, err)
			}
			val = s
		case v == "true" || v == "false":
			val = v == "true"
		default:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("samconfig.toml:%d: value %s", n, v)
			}
			val = f
		}
		if out[section] == nil {
			out[section] = map[string]any{}
		}
		out[section][k] = val
	}
	return out
}

// TestSamconfig checks that `sam build` and `sam deploy` need no flags and that the parameter
// overrides name the template's parameters with values it accepts.
func TestSamconfig(t *testing.T) {
	tpl := loadTemplate(t)
	cfg := readSamconfig(t)
	if cfg[""]["version"] != 0.1 {
		t.Errorf("version = %v, want 0.1", cfg[""]["version"])
	}
	want := map[string]map[string]any{
		"default.global.parameters":       {"stack_name": "settle"},
		"default.build.parameters":        {"cached": true, "parallel": true, "use_container": false},
		"default.deploy.parameters":       {"capabilities": "CAPABILITY_IAM", "confirm_changeset": true, "resolve_s3": true},
		"default.local_invoke.parameters": {"env_vars": "events/env.json"},
	}
	for section, kv := range want {
		for k, v := range kv {
			if got := cfg[section][k]; got != v {
				t.Errorf("[%s] %s = %v, want %v", section, k, got, v)
			}
		}
	}
	overrides, _ := cfg["default.deploy.parameters"]["parameter_overrides"].(string)
	pairs := regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(overrides, -1)
	if len(pairs) == 0 {
		t.Fatal("no parameter_overrides")
	}
	for _, p := range pairs {
		param, ok := tpl.Parameters[p[1]]
		if !ok {
			t.Errorf("parameter_overrides sets %s, which the template does not have", p[1])
			continue
		}
		if !accepts(param, p[2]) {
			t.Errorf("parameter_overrides %s=%q breaks the parameter's constraint", p[1], p[2])
		}
	}
}
