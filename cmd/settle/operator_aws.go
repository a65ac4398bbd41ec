package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// awsWords are the words of `settle aws`: s3:// addresses and the stack's commands.
type awsWords struct{ o *ops.Ops }

func awsOperator(o *ops.Ops) operator {
	st := &stackTable{o: o}
	o.Operator.Table = func(store.Bucket) workflow.TableReader { return st }
	return operator{Operator: o.Operator, words: awsWords{o}, stack: o}
}

// stackTable is the stack's Iceberg table for the consistency check and show, found on first use (an
// S3 Tables table's warehouse is asked of S3 Tables).
type stackTable struct {
	o    *ops.Ops
	once sync.Once
	tab  *icetable.Table
	err  error
}

func (s *stackTable) open(ctx context.Context) (*icetable.Table, error) {
	s.once.Do(func() {
		home, err := s.o.TableHome(ctx)
		s.tab, s.err = icetable.In(home), err
	})
	return s.tab, s.err
}

func (s *stackTable) State(ctx context.Context) (*workflow.TableState, error) {
	tab, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	return tab.State(ctx)
}

func (s *stackTable) SnapshotOf(ctx context.Context, v workflow.TableVersion) (*workflow.TableSnapshot, error) {
	tab, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	return tab.SnapshotOf(ctx, v)
}

func (s *stackTable) HasFile(ctx context.Context, file string) (bool, error) {
	tab, err := s.open(ctx)
	if err != nil {
		return false, err
	}
	return tab.HasFile(ctx, file)
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
