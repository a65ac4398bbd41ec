package main

import (
	"path/filepath"
	"strings"

	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/workflow"
)

// localWords are the words of the data folder: local paths and the commands with its --data. Its
// operator runs what it starts to its end before answering.
type localWords struct {
	env  *local.Env
	data string // the data folder as the command line named it
}

// localOperator is the operator of a data folder.
func localOperator(env *local.Env, data string) operator {
	w := localWords{env: env, data: data}
	op := env.Operator(data, w.command)
	op.Table = icetable.ReaderFor
	return operator{Operator: op, words: w}
}

func (l localWords) where(*ops.Status) string { return "Data folder " + l.data }

// command names the verb with this data folder, so that what is printed can be run as it is.
func (l localWords) command(verb string) string {
	if l.data == DefaultData {
		return "settle " + verb
	}
	return "settle " + verb + " --data " + l.data
}

func (l localWords) file(f workflow.FileRef) string {
	return filepath.Join(l.data, f.Bucket, filepath.FromSlash(f.Key))
}

func (l localWords) output(key string) string {
	return filepath.Join(l.data, local.ProcessedBucket, filepath.FromSlash(key))
}

func (l localWords) text(s string) string {
	s = strings.ReplaceAll(s, "s3://"+local.RawBucket+"/", filepath.Join(l.data, local.RawBucket)+string(filepath.Separator))
	return strings.ReplaceAll(s, "s3://"+local.ProcessedBucket+"/", filepath.Join(l.data, local.ProcessedBucket)+string(filepath.Separator))
}

func (localWords) settings() workflow.SettingNames { return workflow.EnvironmentVariables }

func (localWords) runs() bool { return true }

func (l localWords) result(execution string) *local.FileResult { return l.env.ResultOf(execution) }
