package workflow

// Advice says what to do about a file rejected with the data error named name (one of DataErrors). It is
// the one wording of that advice: the state machine's "Advise: …" states put the same text in the
// failed-files DLQ message and the alert (a test keeps them equal), and the operator commands print it.
// It names settings as the stack sets them; SettingNames.Advice words it for where the pipeline runs.
func Advice(name string) string { return StackParameters.Advice(name) }

// Advice is the advice on the data error named name with the settings named as n names them:
// StackParameters.Advice is the definition's text, EnvironmentVariables.Advice the local engine's.
func (n SettingNames) Advice(name string) string {
	switch name {
	case ErrNameValidation:
		rows := "MAX_REJECTED_ROWS"
		if n != EnvironmentVariables {
			rows += ", the stack's MaxRejectedRows"
		}
		return "The validation report named in the cause lists every problem: the rejected rows with their line " +
			"numbers and reasons, or the currencies whose totals do not balance. Ask the provider for a corrected " +
			"report and upload it. If the rejected rows are acceptable, reprocess the file allowing that many " +
			"(" + rows + "); if an unbalanced batch is expected, reprocess it " +
			"with the balance check off (BALANCE_CHECK=off)."
	case ErrNameConflict:
		return "Another file with different content was committed, or is being committed, for this batch. " +
			"Compare the two files named in the cause; if this one is the provider's regenerated report, " +
			"reprocess it with replace."
	default:
		return "The file is not a readable settlement report (see the cause). Ask the provider for a new copy " +
			"and upload it; nothing was published for this file."
	}
}
