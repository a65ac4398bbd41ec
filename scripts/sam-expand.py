#!/usr/bin/env python3
"""Expand a SAM template (Transform: AWS::Serverless-2016-10-31) into plain CloudFormation JSON.

This is the transform CloudFormation runs on `sam deploy`, done locally with AWS's own translator
(the Python package aws-sam-translator), so that a CloudFormation implementation without the SAM
transform (moto's) can deploy the template. As `sam package` would, it first replaces the local
CodeUri of every AWS::Serverless::Function with an S3 location of the uploaded code (--code-uri),
and the local DefinitionUri of every AWS::Serverless::StateMachine with either an S3 location
(--definition-uri) or, with --inline-definitions, the definition itself. Inline, the definition
becomes a DefinitionString with its DefinitionSubstitutions made by an Fn::Join: the same state
machine for CloudFormation, in the only form moto's CloudFormation reads (it ignores
DefinitionS3Location and DefinitionSubstitutions).

usage: sam-expand.py TEMPLATE --code-uri s3://BUCKET/KEY [--definition-uri s3://BUCKET/KEY |
       --inline-definitions] [--region REGION] [-o OUT.json]

Exit status: 0 expanded; 1 the template does not translate (each reason on stderr); 2 usage;
3 aws-sam-translator or PyYAML is not installed.
"""

import argparse
import json
import os
import re
import sys

WANT_TRANSLATOR = "1.110.0"

try:
    import yaml
    import samtranslator
    from samtranslator.parser import parser as sam_parser
    from samtranslator.translator.translator import Translator
    from samtranslator.model.exceptions import InvalidDocumentException
except ImportError as e:  # the caller tells "not installed" apart from "does not translate"
    print(f"sam-expand: {e}: pip install aws-sam-translator=={WANT_TRANSLATOR}", file=sys.stderr)
    sys.exit(3)


class Loader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short-form intrinsics (!Ref, !Sub, !GetAtt, …)."""


def _intrinsic(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::" + tag_suffix: value}


Loader.add_multi_constructor("!", _intrinsic)


def _is_local(uri):
    return isinstance(uri, str) and not uri.startswith("s3://")


def package(template, template_dir, code_uri, definition_uri, inline):
    """Replace local code and definition paths as sam package does; return the problems found."""
    problems = []
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::Function" and _is_local(props.get("CodeUri")):
            if not code_uri:
                problems.append(f"{name}: CodeUri {props['CodeUri']!r} is local; pass --code-uri s3://BUCKET/KEY")
            props["CodeUri"] = code_uri
        if res.get("Type") == "AWS::Serverless::StateMachine" and _is_local(props.get("DefinitionUri")):
            path = os.path.join(template_dir, props["DefinitionUri"])
            if inline:
                try:
                    with open(path, encoding="utf-8") as f:
                        props["Definition"] = json.load(f)
                except (OSError, ValueError) as e:
                    problems.append(f"{name}: DefinitionUri {path}: {e}")
                del props["DefinitionUri"]
            elif definition_uri:
                props["DefinitionUri"] = definition_uri
            else:
                problems.append(f"{name}: DefinitionUri {props['DefinitionUri']!r} is local; pass --definition-uri or --inline-definitions")
    return problems


def fold_substitutions(template):
    """Write each state machine's DefinitionString (SAM's Fn::Join of lines) with its
    DefinitionSubstitutions made: an Fn::Join of the definition's text and the substituted values, as
    CloudFormation substitutes them. (Not an Fn::Sub with a variable map: moto evaluates that with
    Python's string.Template, which also turns the definition's $$ into $.)"""
    for res in template.get("Resources", {}).values():
        props = res.get("Properties") or {}
        subs = props.get("DefinitionSubstitutions")
        if res.get("Type") != "AWS::StepFunctions::StateMachine" or not subs:
            continue
        definition = props.get("DefinitionString")
        if isinstance(definition, dict) and "Fn::Join" in definition:
            sep, parts = definition["Fn::Join"]
            if all(isinstance(p, str) for p in parts):
                definition = sep.join(parts)
        if not isinstance(definition, str):
            raise ValueError("a DefinitionString that is not literal text cannot be folded with its substitutions")
        pieces = []
        text = 0
        for m in re.finditer(r"\$\{([A-Za-z0-9_]+)\}", definition):
            if m.group(1) not in subs:
                continue  # not a substitution: left as written, as CloudFormation leaves it
            pieces.append(definition[text:m.start()])
            pieces.append(subs[m.group(1)])
            text = m.end()
        pieces.append(definition[text:])
        props["DefinitionString"] = {"Fn::Join": ["", [p for p in pieces if p != ""]]}
        del props["DefinitionSubstitutions"]


def main():
    ap = argparse.ArgumentParser(description="Expand a SAM template into CloudFormation JSON.")
    ap.add_argument("template")
    ap.add_argument("--code-uri", help="S3 location of the functions' code, as sam package uploads it")
    ap.add_argument("--definition-uri", help="S3 location of the state machine definitions")
    ap.add_argument("--inline-definitions", action="store_true", help="put the definitions into the template")
    ap.add_argument("--region", default="us-east-1", help="the region the template is expanded for")
    ap.add_argument("-o", "--output", help="write here instead of standard output")
    args = ap.parse_args()
    if samtranslator.__version__ != WANT_TRANSLATOR:
        print(f"sam-expand: note: aws-sam-translator {samtranslator.__version__}, the project is checked with {WANT_TRANSLATOR}", file=sys.stderr)

    try:
        with open(args.template, encoding="utf-8") as f:
            template = yaml.load(f, Loader=Loader)  # noqa: S506 (SafeLoader plus the intrinsic tags)
    except (OSError, yaml.YAMLError) as e:
        print(f"sam-expand: read {args.template}: {e}", file=sys.stderr)
        return 1
    problems = package(template, os.path.dirname(os.path.abspath(args.template)), args.code_uri,
                       args.definition_uri, args.inline_definitions)
    if problems:
        for p in problems:
            print(f"sam-expand: {args.template}: {p}", file=sys.stderr)
        return 1

    # The translator takes the region (AWS::Region, ARNs' partition) from the environment.
    os.environ["AWS_DEFAULT_REGION"] = args.region
    try:
        # Managed policies are only looked up by name; the template names none (ARNs and inline statements).
        out = Translator(managed_policy_map={}, sam_parser=sam_parser.Parser()).translate(
            sam_template=template, parameter_values={}, passthrough_metadata=True)
        if args.inline_definitions:
            fold_substitutions(out)
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"sam-expand: {args.template}: {cause.message}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"sam-expand: {args.template}: {e}", file=sys.stderr)
        return 1

    text = json.dumps(out, indent=1, sort_keys=True) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
