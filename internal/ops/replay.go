package ops

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

// Replay is an EventBridge replay of archived raw-bucket events.
type Replay struct {
	Name        string
	ARN         string
	State       string
	From, To    time.Time
	Archive     string
	Retention   int // days; 0: forever
	ArchiveFrom time.Time
	Bus, Rule   string

	// What the replayed events meet, for the files with an execution started in the window (by the
	// latest of each file's ETag-named executions: the name and its -rN successors, which the starter
	// looks at): Duplicates are running or succeeded, Restarts failed on an infrastructure error (the
	// starter redrives them, or starts -rN), Rejected failed on a data error and stay rejected.
	Duplicates, Restarts, Rejected []ReplayFile
}

// ReplayFile is a file whose event a replay sends again, and the execution the starter will find.
type ReplayFile struct {
	Execution string
	File      workflow.FileRef
	Status    string
	Error     string
	// ProcessedBy is a later execution of the same content (-pN) that succeeded: nothing is left to do.
	ProcessedBy string
}

// Reprocess is the command that runs a rejected file again.
func (f ReplayFile) Reprocess() string { return "settle aws reprocess " + f.File.URL() }

// Replay replays the archived Object Created events of [from, to) to the default bus, for the ingest
// rule only: each file's event reaches the starter again, which starts what never ran, redrives what
// failed on an infrastructure error, counts the rest as duplicate deliveries and leaves rejected files
// rejected (they are listed, with the reprocess command, in Rejected). A window outside what the archive
// holds is an error. A dry run checks the window and reports what the replay would meet.
func (o *Ops) Replay(ctx context.Context, from, to time.Time, dry bool) (*Replay, error) {
	now := o.clock()
	if !from.Before(to) {
		return nil, fmt.Errorf("--from %s is not before --to %s", stamp(from), stamp(to))
	}
	if to.After(now) {
		return nil, fmt.Errorf("--to %s is in the future; the archive holds events up to now (%s)", stamp(to), stamp(now))
	}
	archiveArn := o.Stack.Out(OutEventArchiveARN)
	name := archiveArn[strings.LastIndex(archiveArn, "/")+1:]
	ar, err := o.Events.DescribeArchive(ctx, &eventbridge.DescribeArchiveInput{ArchiveName: aws.String(name)})
	var nf *ebtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("the stack's event archive %s does not exist; redeploy the stack", name)
	}
	if err != nil {
		return nil, explain("describe the event archive "+name, o.Stack.Region, err)
	}
	r := &Replay{From: from.UTC(), To: to.UTC(), Archive: name, Retention: int(aws.ToInt32(ar.RetentionDays)),
		ArchiveFrom: aws.ToTime(ar.CreationTime).UTC(), Bus: o.Stack.Out(OutEventBusARN), Rule: o.Stack.Out(OutIngestRuleARN)}
	oldest := r.ArchiveFrom
	if r.Retention > 0 {
		if kept := now.Add(-time.Duration(r.Retention) * 24 * time.Hour); kept.After(oldest) {
			oldest = kept
		}
	}
	if from.Before(oldest) {
		why := fmt.Sprintf("the archive was created at %s", stamp(r.ArchiveFrom))
		if r.Retention > 0 && oldest != r.ArchiveFrom {
			why = fmt.Sprintf("the archive keeps events for %d days", r.Retention)
		}
		return nil, fmt.Errorf("--from %s is beyond the archive: %s, so it holds events from %s on; replay a later window, or reprocess older files with settle aws reprocess",
			stamp(from), why, stamp(oldest))
	}
	if st := ar.State; st != ebtypes.ArchiveStateEnabled {
		return nil, fmt.Errorf("the event archive %s is %s, not ENABLED; it cannot be replayed now", name, st)
	}
	r.Name = "settle-" + now.Format("20060102T150405Z")
	if err := o.replayMeets(ctx, r); err != nil {
		return nil, err
	}
	if dry {
		r.State = "DRY-RUN"
		return r, nil
	}
	out, err := o.Events.StartReplay(ctx, &eventbridge.StartReplayInput{
		ReplayName:     aws.String(r.Name),
		Description:    aws.String(fmt.Sprintf("settle aws replay --from %s --to %s", stamp(from), stamp(to))),
		EventSourceArn: aws.String(archiveArn),
		EventStartTime: aws.Time(r.From),
		EventEndTime:   aws.Time(r.To),
		Destination:    &ebtypes.ReplayDestination{Arn: aws.String(r.Bus), FilterArns: []string{r.Rule}},
	})
	if err != nil {
		return nil, explain("start the replay", o.Stack.Region, err)
	}
	r.ARN, r.State = aws.ToString(out.ReplayArn), string(out.State)
	return r, nil
}

// replayMeets fills in what the replay's events will meet: for each file with an ETag-named execution
// started in the window, the latest of those executions (the starter follows -rN successors started
// since, too).
func (o *Ops) replayMeets(ctx context.Context, r *Replay) error {
	items, err := o.Machine.List(ctx, "", r.From, 0) // newest first, from the window's start to now
	if err != nil {
		return err
	}
	latest := map[string]string{}      // content → its latest ETag-named execution
	processedBy := map[string]string{} // content → a -pN execution of it that succeeded
	inWindow := map[string]bool{}
	var order []string // contents with an execution in the window, newest first
	for _, it := range items {
		name, c := it.Name, ContentName(it.Name)
		if reprocessSuffix.MatchString(name) {
			if it.Status == states.Succeeded && processedBy[c] == "" {
				processedBy[c] = name
			}
			continue
		}
		if _, seen := latest[c]; !seen {
			latest[c] = name
		}
		if it.Start.Before(r.To) && !inWindow[c] {
			inWindow[c] = true
			order = append(order, c)
		}
	}
	for i := len(order) - 1; i >= 0; i-- { // oldest first, as the files arrived
		c := order[i]
		x, err := o.Describe(ctx, latest[c])
		if err != nil {
			return err
		}
		f := ReplayFile{Execution: x.Name, File: x.File, Status: x.Status, Error: x.Error, ProcessedBy: processedBy[c]}
		switch {
		case !x.Failed():
			r.Duplicates = append(r.Duplicates, f)
		case IsDataError(x.Error):
			r.Rejected = append(r.Rejected, f)
		default:
			r.Restarts = append(r.Restarts, f)
		}
	}
	return nil
}

// reprocessSuffix matches the executions an operator's reprocess started (-pN), which no event names.
var reprocessSuffix = regexp.MustCompile(`-p[0-9]+(-r[0-9]+)*$`)

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
