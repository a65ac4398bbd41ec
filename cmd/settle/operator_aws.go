package main

import (
	"context"
	"fmt"

	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// awsWords are the words of `settle aws`: s3:// addresses and the stack's commands.
type awsWords struct{ o *ops.Ops }

func awsOperator(o *ops.Ops) operator {
	// The stack's Iceberg table for the consistency check and show, found on first use (an S3 Tables
	// table's warehouse is asked of S3 Tables).
	st := workflow.LazyTable(func(ctx context.Context) (workflow.TableReader, error) {
		home, err := o.TableHome(ctx)
		if err != nil {
			return nil, err
		}
		return icetable.In(home), nil
	})
	o.Operator.Table = func(store.Bucket) workflow.TableReader { return st }
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
