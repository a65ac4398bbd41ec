// Package rie holds the tests that run each Lambda function's real bootstrap (build/<function>/bootstrap,
// built by `make build` exactly as `sam build` builds it: linux/arm64, static) under the official Lambda
// Runtime Interface Emulator, through qemu-aarch64 on other machines, and invoke it with its events/
// file: what `sam local invoke <Fn> -e events/<fn>.json --env-vars events/env.json` does in Docker. S3
// is an in-process gofakes3 server (AWS_ENDPOINT_URL_S3) and Step Functions a local endpoint speaking
// its JSON 1.0 protocol (AWS_ENDPOINT_URL_SFN); the webhook and fetch functions' Secrets Manager and SQS
// calls go to one local endpoint speaking both (AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_SQS).
// The fetch function refuses every non-public address, so under the emulator it proves its refusals;
// its download runs in process through the handler its main builds. The functions' Embedded Metric Format lines are checked
// against the metrics the template's dashboard and alarms use. Without aws-lambda-rie or qemu the tests
// are skipped, except in CI (CI set), where they fail. It has no code outside its tests.
package rie
