// Package statemachine embeds settlement.asl.json, the definition template.yaml deploys, so that the local
// engine behind `settle run` interprets exactly the same bytes.
package statemachine

import _ "embed"

// Definition is the Amazon States Language definition with its ${…} placeholders.
//
//go:embed settlement.asl.json
var Definition []byte

// Placeholders are the DefinitionSubstitutions the definition expects.
var Placeholders = []string{
	"CheckFunctionArn", "ValidateFunctionArn", "TransformFunctionArn", "WriteFunctionArn",
	"FailedFilesQueueUrl", "AlertTopicArn",
}
