// Package motostack deploys template.yaml to moto's CloudFormation (moto_server, the Python AWS
// emulator), so that the operator commands and the starter run against a stack of the real template
// on an AWS implementation this project did not write.
//
// The SAM transform is expanded by scripts/sam-expand.py with AWS's own translator (aws-sam-translator),
// as CloudFormation expands it on sam deploy; the few changes without which moto refuses the result are
// listed in Adaptations, each with its reason, and what moto's CloudFormation drops from a bucket is
// applied through the S3 API afterwards. The stack is created as sam deploy creates it (a change set,
// then its execution, where moto allows: see DeployBody) and its outputs read as the commands read them.
//
// moto stores the Lambda functions but cannot run them (that needs Docker), and its Step Functions
// keeps executions RUNNING without running a step: the tests play the parts moto cannot, with the
// project's real code (RunStarter hands the ingest queue's messages to the starter function's handler).
// docs/testing.md lists what moto implements, stores or refuses.
//
// A test calls New; without python3, aws-sam-translator or moto_server the test is skipped, except in
// CI (CI set in the environment), where a missing proof tool is a failure.
package motostack

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/paysettle/settle/internal/testkit/motoserver"
	"github.com/paysettle/settle/internal/testkit/proof"
)

// Region is the region of the stacks (moto's default).
const Region = motoserver.Region

// Parameters are the template parameters of every stack; the others keep their defaults.
var Parameters = map[string]string{"EnvironmentName": "moto"}

// createTimeout bounds the wait for a stack. moto creates it before it answers CreateStack, so the
// first look finds it complete; the bound only turns a moto that hangs into a clear failure.
const createTimeout = 30 * time.Second

// Stack is a stack of template.yaml deployed to moto, with clients for the services the tests use.
type Stack struct {
	Name    string
	Server  *motoserver.Server
	Outputs map[string]string
	// Created is when the stack was created (moto's clock is the machine's).
	Created time.Time

	Config aws.Config
	CFN    *cloudformation.Client
	S3     *s3.Client
	SQS    *sqs.Client
	SFN    *sfn.Client
	Events *eventbridge.Client
}

// Out returns an output's value ("" when absent).
func (s *Stack) Out(key string) string { return s.Outputs[key] }

var stacks atomic.Int64

// New deploys a fresh stack on the test binary's shared moto server (motoserver.Shared) and points the
// AWS SDK's standard configuration at it for the test's duration (SetEnv). Each test has its own
// stack: its own buckets, queues, rules, archive and state machine.
func New(t testing.TB) *Stack {
	t.Helper()
	s := Deploy(t, motoserver.Shared(t))
	s.SetEnv(t)
	return s
}

// Deploy deploys template.yaml (expanded, adapted) to srv as a new stack and returns it once
// CREATE_COMPLETE.
func Deploy(t testing.TB, srv *motoserver.Server) *Stack {
	t.Helper()
	body := Template(t)
	s, err := DeployBody(context.Background(), srv, body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Template returns the template Deploy deploys, skipping (failing in CI) when a tool is missing.
func Template(t testing.TB) []byte {
	t.Helper()
	expanded, err := Expanded()
	var m *MissingError
	if errors.As(err, &m) {
		proof.Missing(t, "%s (pip install aws-sam-translator==%s)", m.Msg, TranslatorVersion)
	}
	if err != nil {
		t.Fatal(err)
	}
	body, err := ForMoto(expanded)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// DeployBody deploys a CloudFormation template body to srv as a new stack (CreateStack), then applies
// the bucket settings moto's CloudFormation drops through the S3 API.
func DeployBody(ctx context.Context, srv *motoserver.Server, body []byte) (*Stack, error) {
	cfg := srv.Config()
	s := &Stack{
		Name: fmt.Sprintf("settle-%d", stacks.Add(1)), Server: srv, Config: cfg, Created: time.Now().UTC(),
		CFN: cloudformation.NewFromConfig(cfg), S3: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		SQS: sqs.NewFromConfig(cfg), SFN: sfn.NewFromConfig(cfg), Events: eventbridge.NewFromConfig(cfg),
	}
	if err := s.uploadArtifacts(ctx); err != nil {
		return nil, err
	}
	var params []cfntypes.Parameter
	for k, v := range Parameters {
		params = append(params, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	// sam deploy creates a change set and executes it. moto 5.2.1 does the same resources that way, but
	// the stack it makes has no outputs (they are computed before the resources exist), so the stack is
	// created directly: the same template, parameters and capabilities.
	if _, err := s.CFN.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String(s.Name), TemplateBody: aws.String(string(body)), Parameters: params,
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam, cfntypes.CapabilityCapabilityAutoExpand},
	}); err != nil {
		return nil, fmt.Errorf("create stack %s: %w", s.Name, err)
	}
	var stack cfntypes.Stack
	if err := waitFor(ctx, "stack "+s.Name, func() (string, string, error) {
		out, err := s.CFN.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(s.Name)})
		if err != nil {
			return "", "", err
		}
		if len(out.Stacks) == 0 {
			return "", "", fmt.Errorf("stack %s not found", s.Name)
		}
		stack = out.Stacks[0]
		return string(stack.StackStatus), aws.ToString(stack.StackStatusReason), nil
	}, string(cfntypes.StackStatusCreateComplete)); err != nil {
		return nil, err
	}
	s.Outputs = map[string]string{}
	for _, o := range stack.Outputs {
		s.Outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	if err := s.applyBucketSettings(ctx, body); err != nil {
		return nil, err
	}
	return s, nil
}

// waitFor polls status until it is want or no longer in progress.
func waitFor(ctx context.Context, what string, status func() (string, string, error), want string) error {
	deadline := time.Now().Add(createTimeout)
	for {
		st, reason, err := status()
		switch {
		case err != nil:
			return fmt.Errorf("describe %s: %w", what, err)
		case st == want:
			return nil
		case !strings.HasSuffix(st, "_IN_PROGRESS") && st != "CREATE_PENDING":
			return fmt.Errorf("%s is %s, want %s: %s", what, st, want, reason)
		case time.Now().After(deadline):
			return fmt.Errorf("%s still %s after %s", what, st, createTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// uploadArtifacts puts the functions' code where the expanded template says sam package put it: a
// placeholder archive, since moto never runs it.
func (s *Stack) uploadArtifacts(ctx context.Context) error {
	_, err := s.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(ArtifactBucket)})
	var owned *s3types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create the artifact bucket: %w", err)
	}
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	f, err := zw.Create("bootstrap")
	if err == nil {
		_, err = f.Write([]byte("#!/bin/sh\necho 'a placeholder: moto stores the function and never runs it' >&2\nexit 1\n"))
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return err
	}
	if _, err := s.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(ArtifactBucket), Key: aws.String(ArtifactKey), Body: bytes.NewReader(zipped.Bytes())}); err != nil {
		return fmt.Errorf("upload the functions' code: %w", err)
	}
	return nil
}

// SetEnv points the AWS SDK's standard configuration (what ops.Connect and the functions' cloud
// package load) at the stack's server for the test: endpoint, region, static credentials, path-style
// S3, no shared files, no instance metadata, no X-Ray.
func (s *Stack) SetEnv(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": s.Server.Endpoint, "AWS_REGION": Region, "AWS_DEFAULT_REGION": "",
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true", "S3_FORCE_PATH_STYLE": "true",
		"AWS_CONFIG_FILE": filepath.Join(dir, "no-config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "no-credentials"),
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "", "AWS_XRAY_SDK_DISABLED": "true", "LOG_LEVEL": "ERROR",
	} {
		t.Setenv(k, v)
	}
}
