package main

import (
	"fmt"

	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/workflow"
)

// awsWords are the words of `settle aws`: s3:// addresses and the stack's commands.
type awsWords struct{ o *ops.Ops }

func awsOperator(o *ops.Ops) operator {
	o.Operator.Table = icetable.ReaderFor
	return operator{Operator: o.Operator, words: awsWords{o}, stack: o}
}

func (a awsWords) where(st *ops.Status) string {
	return fmt.Sprintf("Stack %s in %s (%s)", st.Stack.Name, st.Stack.Region, st.Stack.Status)
}
func (awsWords) command(verb string) string     { return "settle aws " + verb }
func (awsWords) file(f workflow.FileRef) string { return f.URL() }
func (awsWords) text(s string) string           { return s }
func (a awsWords) output(key string) string {
	return "s3://" + a.o.Stack.Out(ops.OutProcessedBucket) + "/" + key
}
func (awsWords) settings() workflow.SettingNames { return workflow.StackParameters }
func (awsWords) runs() bool                      { return false }
func (awsWords) result(string) *local.FileResult { return nil }
