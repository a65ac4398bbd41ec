package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Replay is an EventBridge replay of archived raw-bucket events.
type Replay struct {
	Name        string
	Arn         string
	State       string
	From, To    time.Time
	Archive     string
	Retention   int // days; 0: forever
	ArchiveFrom time.Time
	Bus, Rule   string
}

// Replay replays the archived Object Created events of [from, to) to the default bus, for the ingest
// rule only: each file's event reaches the starter again, which starts what never ran and counts the
// rest as duplicate deliveries. A window outside what the archive holds is an error.
func (o *Ops) Replay(ctx context.Context, from, to time.Time, dry bool) (*Replay, error) {
	now := o.clock()
	if !from.Before(to) {
		return nil, fmt.Errorf("--from %s is not before --to %s", stamp(from), stamp(to))
	}
	if to.After(now) {
		return nil, fmt.Errorf("--to %s is in the future; the archive holds events up to now (%s)", stamp(to), stamp(now))
	}
	archiveArn := o.Stack.Out(OutEventArchiveArn)
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
		ArchiveFrom: aws.ToTime(ar.CreationTime).UTC(), Bus: o.Stack.Out(OutEventBusArn), Rule: o.Stack.Out(OutIngestRuleArn)}
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
	r.Arn, r.State = aws.ToString(out.ReplayArn), string(out.State)
	return r, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
