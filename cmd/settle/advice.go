package main

import (
	"fmt"

	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

// advice says what to do about an execution, in the operator's words: for a rejected file, the
// reprocess command that would let it through (the operator reads it: workflow.ReadRemedy).
func advice(op operator, d *ops.Detail) string {
	switch {
	case d.Status == states.Succeeded:
		if d.Manifest != nil && len(d.Manifest.Warnings) > 0 {
			return "nothing to rerun: the file is committed; read its warnings below."
		}
		return "nothing: the file is processed."
	case d.Status == states.Running:
		return "wait: the execution is running (steps retry transient errors with backoff)."
	case workflow.IsDataError(d.Error):
		fix, _ := remedy(op, d.Name, d.Error, d.Remedy)
		return "the file was rejected for a data reason (" + d.Error + "): redriving re-enters the Fail state and cannot change the outcome.\n" + fix
	case d.RedriveStatus == states.Redrivable:
		step := d.FailedStep
		if step == "" {
			step = "the step that failed"
		}
		return "fix the cause above, then " + op.command("redrive "+d.Name) + " (it reruns " + step + " with the same input)."
	default:
		return "not redrivable (" + ops.OrDash(d.RedriveReason) + "); " + op.command("redrive "+d.Name) + " starts a new -rN execution with the original input."
	}
}

// remedy is what to do about the file execution name rejected with errName, with the reprocess command
// that would let it through (r, which the operator read); fitted is false when nothing more than the
// error's name is known (the general advice, then).
func remedy(op operator, name, errName string, r workflow.Remedy) (text string, fitted bool) {
	cmd := op.command("reprocess " + name)
	switch {
	case r.Rejected > 0 && r.Unbalanced:
		return fmt.Sprintf("The rejected rows file named in the cause lists each rejected line with its reasons, and the validation report has the totals per currency. "+
			"Ask the provider for a corrected report and upload it; or, if these %d rows may be left out and the batch is expected not to balance, "+
			"%s --max-rejected %d --balance-check off commits the others, with the imbalance as the manifest's warning.", r.Rejected, cmd, r.Rejected), true
	case r.Rejected > 0:
		return fmt.Sprintf("The rejected rows file named in the cause lists each rejected line with its reasons. "+
			"Ask the provider for a corrected report and upload it; or, if these %d rows may be left out, %s --max-rejected %d commits the others.", r.Rejected, cmd, r.Rejected), true
	case r.Unbalanced:
		return "The validation report named in the cause has the totals per currency. Ask the provider for a corrected report and upload it; " +
			"or, if the batch is expected not to balance, " + cmd + " --balance-check off commits it, with the imbalance as the manifest's warning.", true
	case r.Replace:
		return "Compare the two files named in the cause; if this one is the provider's regenerated report, " + cmd + " --replace replaces the committed one with it.", true
	case r.TooLarge:
		return "Ask the provider for smaller batches, or raise " + op.settings().Setting("MAX_FILE_BYTES", "MaxFileBytes") + " and run " + cmd + ".", true
	}
	return op.text(op.settings().Advice(errName)) + " Once its cause is fixed, " + cmd + " runs this file again.", false
}

// dlqAction is what a dead-letter message says to do: for a rejected file, the definition's advice on
// its error in these words (the message carries the stack's).
func dlqAction(op operator, m ops.DLQMessage) string {
	if m.Kind == ops.KindRejected && m.Action != "" && workflow.IsDataError(m.Error) {
		return op.settings().Advice(m.Error)
	}
	return op.text(m.Action)
}
