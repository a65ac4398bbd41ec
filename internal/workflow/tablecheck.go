package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/paysettle/settle/internal/ledger"
)

// The scheduled batch check also runs the table's consistency check (Verifier) and alerts once per
// finding and once when it is resolved, with the same claim, publish, confirm protocol as the ledger's
// alerts (see BatchCheck): the state is written conditionally before anything is published, so two
// checks at once send each message once, and a message claimed by a check that died is sent again
// after ResendAfter.

// VerifyAlertsKey is the table check's alert state in the processed bucket.
const VerifyAlertsKey = "_verify/alerts.json"

// TableAlerts is the announced findings of the table check, by Finding.ID.
type TableAlerts struct {
	Version  int                    `json:"version"`
	Findings map[string]*TableAlert `json:"findings"`
}

// TableAlert is one announced finding.
type TableAlert struct {
	Finding Finding `json:"finding"`
	// State is ledger.Sending or ledger.Open for the alert, ledger.Resolving for its resolution.
	State    string    `json:"state"`
	Since    time.Time `json:"since"`
	Claimed  time.Time `json:"claimed"`
	Attempts int       `json:"attempts"`
}

// tableMessage is a message the check publishes for one finding.
type tableMessage struct {
	id       string
	resolved bool
	subject  string
	text     string
}

// planTable claims the messages the findings call for in cur (a copy is returned) and lists them.
func planTable(cur *TableAlerts, findings []Finding, now time.Time, resend time.Duration) (*TableAlerts, []tableMessage) {
	next := &TableAlerts{Version: 1, Findings: map[string]*TableAlert{}}
	for id, a := range cur.Findings {
		c := *a
		next.Findings[id] = &c
	}
	var msgs []tableMessage
	current := map[string]bool{}
	for _, f := range findings {
		id := f.ID()
		current[id] = true
		a := next.Findings[id]
		switch {
		case a == nil:
			a = &TableAlert{Finding: f, State: ledger.Sending, Since: now}
			next.Findings[id] = a
		case a.State == ledger.Resolving:
			a.State, a.Since, a.Attempts = ledger.Sending, now, 0 // back before its resolution went out
		case a.State == ledger.Sending && now.Sub(a.Claimed) >= resend:
		default:
			continue // announced, or being announced by a check still running
		}
		a.Finding, a.Claimed = f, now
		a.Attempts++
		msgs = append(msgs, alertMessage(id, a.Finding))
	}
	for id, a := range next.Findings {
		if current[id] {
			continue
		}
		switch {
		case a.State == ledger.Open, a.State == ledger.Resolving && now.Sub(a.Claimed) >= resend:
			a.State, a.Claimed = ledger.Resolving, now
			a.Attempts++
			msgs = append(msgs, resolvedMessage(id, a.Finding, now))
		case a.State == ledger.Sending:
			delete(next.Findings, id) // gone before its alert was confirmed: nothing to resolve
		}
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].id < msgs[j].id })
	return next, msgs
}

// confirmTable marks sent messages as delivered.
func confirmTable(cur *TableAlerts, sent []tableMessage) *TableAlerts {
	next := &TableAlerts{Version: 1, Findings: map[string]*TableAlert{}}
	for id, a := range cur.Findings {
		c := *a
		next.Findings[id] = &c
	}
	for _, m := range sent {
		a := next.Findings[m.id]
		switch {
		case a == nil:
		case m.resolved && a.State == ledger.Resolving:
			delete(next.Findings, m.id)
		case !m.resolved && a.State == ledger.Sending:
			a.State = ledger.Open
		}
	}
	return next
}

func alertMessage(id string, f Finding) tableMessage {
	text := fmt.Sprintf("The table settlement_lines differs from its manifests.\n\n%s: %s\n%s\n\nTo resolve: %s", f.Kind, f.Key, f.Detail, f.Remedy)
	if f.Command != "" {
		text += "\n  settle aws " + f.Command + " --stack <stack>"
	}
	text += "\n\nsettle aws verify --stack <stack> lists every finding; a message follows when this one is resolved."
	return tableMessage{id: id, subject: truncateSubject("Settlement table inconsistency: " + f.Kind + " " + f.Batch), text: text}
}

func resolvedMessage(id string, f Finding, now time.Time) tableMessage {
	return tableMessage{id: id, resolved: true, subject: truncateSubject("Resolved: settlement table inconsistency " + f.Kind + " " + f.Batch),
		text: fmt.Sprintf("Resolved at %s: %s: %s no longer differs from its manifests.", now.UTC().Format(time.RFC3339), f.Kind, f.Key)}
}

// truncateSubject keeps an SNS subject under its 100-character limit.
func truncateSubject(s string) string {
	if len(s) > 99 {
		return s[:96] + "..."
	}
	return s
}

// checkTable runs the consistency check and announces what changed; it returns the findings, the
// alerts and the resolutions published.
func (c *BatchCheck) checkTable(ctx context.Context, log *slog.Logger, now time.Time) (int, int, int, error) {
	rep, err := (&Verifier{Processed: c.Processed, Table: c.Table, Now: func() time.Time { return now }}).Verify(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, f := range rep.Findings {
		log.WarnContext(ctx, "table inconsistency", "kind", f.Kind, "key", f.Key, "batch", f.Batch, "detail", f.Detail)
	}
	alerts, resolutions := 0, 0
	err = claimPublishConfirm(ctx, c.Processed, VerifyAlertsKey,
		func() *TableAlerts { return &TableAlerts{Version: 1, Findings: map[string]*TableAlert{}} },
		func(cur *TableAlerts) (*TableAlerts, []tableMessage) {
			return planTable(cur, rep.Findings, now, c.resendAfter())
		},
		func(m tableMessage) error {
			if err := c.Publisher.Publish(ctx, m.subject, m.text); err != nil {
				return fmt.Errorf("publish %s: %w", m.id, err)
			}
			if m.resolved {
				resolutions++
			} else {
				alerts++
			}
			return nil
		},
		confirmTable)
	return len(rep.Findings), alerts, resolutions, err
}
