package motostack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/paysettle/settle/internal/testkit/reporoot"
)

// TranslatorVersion is the aws-sam-translator release the expansion is checked with.
const TranslatorVersion = "1.110.0"

// Where the functions' code is, as sam package would have uploaded it: one placeholder archive that
// moto stores with every function and never runs.
const (
	ArtifactBucket = "settle-moto-artifacts"
	ArtifactKey    = "code/bootstrap.zip"
)

// Unmodelled are the resource types of template.yaml (expanded) that moto's CloudFormation does not
// model: it creates nothing for them, a Ref to one resolves to nothing (the output is left out), and
// an output reading an attribute of one fails CreateStack with HTTP 500. TestUnmodelledTypes checks
// the list against the installed moto.
var Unmodelled = []string{
	"AWS::Athena::NamedQuery",
	"AWS::Athena::WorkGroup",
	"AWS::CloudWatch::Alarm",
	"AWS::Glue::Database",
	"AWS::Glue::Table",
	"AWS::Lambda::Url",
	"AWS::S3::BucketPolicy",
	"AWS::S3Tables::Namespace",
	"AWS::S3Tables::Table",
	"AWS::S3Tables::TableBucket",
	"AWS::SNS::Subscription",
	"AWS::SNS::TopicPolicy",
	"AWS::SQS::QueuePolicy",
	"AWS::Scheduler::Schedule",
	"AWS::SecretsManager::Secret",
}

// Adaptation is one change to the expanded template without which moto's CloudFormation refuses it
// (CreateStack fails) or deploys something moto then cannot serve. Each is made only to the copy
// deployed to moto; template.yaml and its expansion for AWS are untouched.
type Adaptation struct {
	Name string
	Why  string
	// apply changes the template and reports how many places it changed.
	apply func(tmpl map[string]any) int
}

// Adaptations are the changes Deploy makes, in order. TestAdaptationsAreNeeded deploys the template
// without each in turn and expects moto to refuse it, so that one moto no longer needs is noticed.
var Adaptations = []Adaptation{
	{
		Name:  "outputs-of-unmodelled-resources",
		Why:   "an output reading an attribute (Fn::GetAtt) of a resource type moto does not model (WebhookUrl: AWS::Lambda::Url) makes CreateStack fail with HTTP 500; the output is left out",
		apply: dropUnmodelledOutputs,
	},
	{
		Name:  "attributes-of-unmodelled-resources",
		Why:   "moto's CloudFormation refuses a template in which a resource reads an attribute (Fn::GetAtt) of a resource type it does not model (the write function's TABLE_BUCKET_ARN and policy: AWS::S3Tables::*) with HTTP 400, 'references undefined resource'; each such attribute is made empty, so the write function commits the processed bucket's table there",
		apply: blankUnmodelledAttributes,
	},
	{
		Name:  "archive-pattern-as-text",
		Why:   "moto's AWS::Events::Archive reads EventPattern only as JSON text and fails with HTTP 500 on the object CloudFormation also accepts; it is given as text (an Fn::Join of the same pattern's JSON and its Ref)",
		apply: archivePatternAsText,
	},
	{
		Name:  "archives-after-rules",
		Why:   "moto hands an S3 event to the bus's rules in the order they were created and stops at an archive's rule, which fails on an event that did not come through PutEvents (KeyError, swallowed): a rule created after the archive never sees S3 events. The archives are made to depend on the rules (DependsOn), so the rules come first; the archive itself still keeps no S3 event",
		apply: archivesAfterRules,
	},
	{
		Name:  "rule-targets-sns",
		Why:   "moto's EventBridge cannot deliver to an SNS topic: an event matching a rule with one fails PutEvents with HTTP 500 after the targets before it; the topic targets are left out",
		apply: dropSNSRuleTargets,
	},
	{
		Name:  "event-source-mappings-disabled",
		Why:   "moto invokes a queue's Lambda function inside every SendMessage, which needs Docker; without it each message is received (its receive count grows) and left in the queue; the mappings are disabled and the tests hand the messages to the real handler",
		apply: disableEventSourceMappings,
	},
}

// expansion caches the expanded template: the translator runs once per test binary.
var expansion struct {
	once sync.Once
	json []byte
	err  error
}

// Expanded returns template.yaml expanded into plain CloudFormation by scripts/sam-expand.py (the
// functions' code at ArtifactBucket/ArtifactKey, the definition inline), before any adaptation.
func Expanded() ([]byte, error) {
	expansion.once.Do(func() { expansion.json, expansion.err = expand() })
	return expansion.json, expansion.err
}

// MissingError says that a tool the expansion needs is not installed.
type MissingError struct{ Msg string }

func (e *MissingError) Error() string { return e.Msg }

func expand() ([]byte, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, &MissingError{"python3 not found on PATH: the SAM transform is expanded with the Python package aws-sam-translator " + TranslatorVersion}
	}
	cmd := exec.Command(py, filepath.Join(root, "scripts", "sam-expand.py"), filepath.Join(root, "template.yaml"),
		"--code-uri", "s3://"+ArtifactBucket+"/"+ArtifactKey, "--inline-definitions", "--region", Region)
	// Not the test's AWS settings: the translator's boto3 session refuses an empty AWS_PROFILE, which
	// tests set to keep real profiles out.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		return nil, &MissingError{strings.TrimSpace(stderr.String())}
	case err != nil:
		return nil, fmt.Errorf("scripts/sam-expand.py template.yaml: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

// RepoRoot is the folder of go.mod, found upwards from the working directory (a test's package).
func RepoRoot() (string, error) { return reporoot.Find() }

// ForMoto returns the expanded template with the adaptations applied, except those named in skip.
func ForMoto(expanded []byte, skip ...string) ([]byte, error) {
	var tmpl map[string]any
	if err := json.Unmarshal(expanded, &tmpl); err != nil {
		return nil, fmt.Errorf("the expanded template is not JSON: %w", err)
	}
	for _, a := range Adaptations {
		if contains(skip, a.Name) {
			continue
		}
		if a.apply(tmpl) == 0 {
			return nil, fmt.Errorf("adaptation %s found nothing to change: the template changed; see whether moto still needs it", a.Name)
		}
	}
	return json.Marshal(tmpl)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func resources(tmpl map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	rs, _ := tmpl["Resources"].(map[string]any)
	for name, r := range rs {
		if m, ok := r.(map[string]any); ok {
			out[name] = m
		}
	}
	return out
}

func properties(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

func dropUnmodelledOutputs(tmpl map[string]any) int {
	rs := resources(tmpl)
	outs, _ := tmpl["Outputs"].(map[string]any)
	n := 0
	for key, o := range outs {
		v, _ := o.(map[string]any)["Value"].(map[string]any)
		ga, ok := v["Fn::GetAtt"].([]any)
		if !ok || len(ga) == 0 {
			continue
		}
		name, _ := ga[0].(string)
		if typ, _ := rs[name]["Type"].(string); contains(Unmodelled, typ) {
			delete(outs, key)
			n++
		}
	}
	return n
}

func blankUnmodelledAttributes(tmpl map[string]any) int {
	rs := resources(tmpl)
	n := 0
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) > 0 {
				name, _ := ga[0].(string)
				if typ, _ := rs[name]["Type"].(string); contains(Unmodelled, typ) {
					n++
					return ""
				}
			}
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	for _, r := range rs {
		if typ, _ := r["Type"].(string); !contains(Unmodelled, typ) {
			walk(r)
		}
	}
	return n
}

func archivePatternAsText(tmpl map[string]any) int {
	n := 0
	for _, r := range resources(tmpl) {
		p := properties(r)
		pattern, ok := p["EventPattern"].(map[string]any)
		if r["Type"] != "AWS::Events::Archive" || !ok {
			continue
		}
		var vars []any
		text, err := json.Marshal(placeholders(pattern, &vars))
		if err != nil {
			continue
		}
		// The text with each intrinsic's value joined in (Fn::Join: no $ in the text is special).
		parts := []any{}
		rest := string(text)
		for i, v := range vars {
			mark := placeholder(i)
			before, after, _ := strings.Cut(rest, mark)
			parts = append(parts, before, v)
			rest = after
		}
		parts = append(parts, rest)
		p["EventPattern"] = map[string]any{"Fn::Join": []any{"", parts}}
		n++
	}
	return n
}

func placeholder(i int) string { return fmt.Sprintf("@@intrinsic-%d@@", i) }

// placeholders replaces the intrinsic functions in v with placeholder strings (their values recorded
// in vars, in order), so that v can be written as JSON text and the values joined in.
func placeholders(v any, vars *[]any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					*vars = append(*vars, x)
					return placeholder(len(*vars) - 1)
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = placeholders(e, vars)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = placeholders(e, vars)
		}
		return out
	}
	return v
}

func archivesAfterRules(tmpl map[string]any) int {
	rs := resources(tmpl)
	var rules []any
	for name, r := range rs {
		if r["Type"] == "AWS::Events::Rule" {
			rules = append(rules, name)
		}
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].(string) < rules[j].(string) })
	n := 0
	for _, r := range rs {
		if r["Type"] != "AWS::Events::Archive" || len(rules) == 0 {
			continue
		}
		deps := rules
		switch d := r["DependsOn"].(type) {
		case string:
			deps = append([]any{d}, rules...)
		case []any:
			deps = append(append([]any{}, d...), rules...)
		}
		r["DependsOn"] = deps
		n++
	}
	return n
}

func dropSNSRuleTargets(tmpl map[string]any) int {
	rs := resources(tmpl)
	n := 0
	for _, r := range rs {
		p := properties(r)
		targets, ok := p["Targets"].([]any)
		if r["Type"] != "AWS::Events::Rule" || !ok {
			continue
		}
		kept := targets[:0:0]
		for _, t := range targets {
			arn, _ := t.(map[string]any)["Arn"].(map[string]any)
			ref, _ := arn["Ref"].(string)
			if typ, _ := rs[ref]["Type"].(string); typ == "AWS::SNS::Topic" {
				n++
				continue
			}
			kept = append(kept, t)
		}
		p["Targets"] = kept
	}
	return n
}

func disableEventSourceMappings(tmpl map[string]any) int {
	n := 0
	for _, r := range resources(tmpl) {
		if r["Type"] == "AWS::Lambda::EventSourceMapping" {
			properties(r)["Enabled"] = false
			n++
		}
	}
	return n
}

// Types lists the resource types of a template, sorted.
func Types(tmpl []byte) ([]string, error) {
	var t map[string]any
	if err := json.Unmarshal(tmpl, &t); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range resources(t) {
		if typ, ok := r["Type"].(string); ok {
			seen[typ] = true
		}
	}
	out := make([]string, 0, len(seen))
	for typ := range seen {
		out = append(out, typ)
	}
	sort.Strings(out)
	return out, nil
}
