// Package deploy holds the tests that keep the AWS packaging in step with the code, without an AWS
// account: template.yaml against the state machine definition, the functions/ folders, the Makefile,
// the Parquet schema (the Glue table), the handlers' configuration and the metrics contract;
// samconfig.toml against the template's parameters; and the events/ files that `sam local invoke`
// and the emulator tests (internal/rie) use, decoded with the handlers' own types and compared with
// what the local engine passes each step. It has no code outside its tests.
package deploy
