// Package awsfake is one local HTTP server that speaks the AWS protocols `settle aws` uses, for tests
// with the real SDK clients: CloudFormation (query protocol, XML), Step Functions (JSON 1.0, backed by
// the local Amazon States Language engine, so executions run the real definition and handlers), SQS
// (JSON 1.0), EventBridge (JSON 1.1) and S3 (gofakes3). It checks what AWS checks that matters here:
// SigV4 credentials and region, request shapes, names and ARNs.
package awsfake

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/paysettle/settle/internal/engine"
)

// Account is the fake's account id.
const Account = "123456789012"

// Fake is the fake AWS. Set its fields before serving; use its methods to inspect or seed it.
type Fake struct {
	// Region is the only region the fake serves; requests signed for another see an empty account.
	Region string
	// BadAccessKey is refused as an invalid token (to test rejected credentials).
	BadAccessKey string
	// Stacks are CloudFormation stacks by name: their outputs.
	Stacks map[string]map[string]string
	// Engine runs the executions of the state machine StateMachineArn.
	Engine          *engine.Engine
	StateMachineARN string
	// Definition is what DescribeStateMachine answers as the state machine's definition.
	Definition string
	// Archive is the EventBridge archive.
	Archive Archive
	// Now is the fake's clock (SQS timestamps, visibility, replays, the Date of the JSON protocols'
	// answers). It is read at every request: a clock that moved when read would date what runs inside
	// a request by how many requests came before.
	Now func() time.Time
	// OnReceive, when set, runs before each SQS ReceiveMessage (tests use it to deliver what the local
	// engine sent to its failed-files folder).
	OnReceive func(queueURL string)
	// S3 is the S3 backend (gofakes3 in memory); create buckets and put objects through it.
	S3 gofakes3.Backend

	mu      sync.Mutex
	queues  map[string]*queue // by URL
	calls   []string
	replays []Replay
	moves   int
	sent    int // messages sent: the sequence in their ids
	s3      http.Handler
}

// Archive is an EventBridge archive.
type Archive struct {
	Name          string
	SourceARN     string
	RetentionDays int
	Created       time.Time
	State         string // ENABLED by default
}

// Replay is a StartReplay request the fake accepted.
type Replay struct {
	Name, EventSourceArn, Destination string
	FilterArns                        []string
	Start, End                        time.Time
}

type queue struct {
	arn  string
	msgs []*message
}

type message struct {
	id, body, receipt string
	sent              time.Time
	receives          int
	visibleAt         time.Time
}

// New returns a fake for region with a memory S3.
func New(region string) *Fake {
	f := &Fake{Region: region, Stacks: map[string]map[string]string{}, Now: time.Now, queues: map[string]*queue{}, S3: s3mem.New()}
	f.s3 = gofakes3.New(f.S3).Server()
	return f
}

// QueueURL and QueueArn name a fake queue.
func (f *Fake) QueueURL(name string) string {
	return "https://sqs." + f.Region + ".amazonaws.com/" + Account + "/" + name
}

// QueueARN is the ARN of the queue called name.
func (f *Fake) QueueARN(name string) string {
	return "arn:aws:sqs:" + f.Region + ":" + Account + ":" + name
}

// CreateQueue adds a queue.
func (f *Fake) CreateQueue(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queues[f.QueueURL(name)] = &queue{arn: f.QueueARN(name)}
}

// Send puts a message in a queue, as if sent at the fake's now.
func (f *Fake) Send(queueURL, body string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queues[queueURL]
	if q == nil {
		panic("awsfake: no queue " + queueURL)
	}
	f.sent++
	now := f.Now()
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", f.sent, now.UnixNano()&0xffffffffffff)
	q.msgs = append(q.msgs, &message{id: id, body: body, sent: now})
	return id
}

// Messages returns the bodies of a queue's messages, visible or not.
func (f *Fake) Messages(queueURL string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.queues[queueURL].msgs {
		out = append(out, m.body)
	}
	return out
}

// Calls lists the API calls served, as "Service.Operation".
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Replays lists the replays started.
func (f *Fake) Replays() []Replay {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Replay(nil), f.replays...)
}

func (f *Fake) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

var credentialRE = regexp.MustCompile(`Credential=([^/]+)/[0-9]{8}/([^/]+)/([^/]+)/aws4_request`)

// ServeHTTP routes a request by protocol: X-Amz-Target for the JSON protocols, Action for the query
// protocol, anything else to S3.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		http.Error(w, "request not signed", http.StatusForbidden)
		return
	}
	key, region := m[1], m[2]
	target := r.Header.Get("X-Amz-Target")
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	switch {
	case strings.HasPrefix(target, "AWSStepFunctions."), strings.HasPrefix(target, "AmazonSQS."), strings.HasPrefix(target, "AWSEvents."):
		service, op, _ := strings.Cut(target, ".")
		f.record(service + "." + op)
		// Dated by the world's clock when the request arrives, as AWS dates its answer to a call (the
		// starter compares an execution's start date with it): the fake runs an execution to its end
		// inside StartExecution, which AWS does not. (S3 keeps the real time: gofakes3 checks the
		// signing time against it, and the SDK would sign with this date's skew.)
		w.Header().Set("Date", f.Now().UTC().Format(http.TimeFormat))
		if key == f.BadAccessKey {
			jsonError(w, 400, "UnrecognizedClientException", "The security token included in the request is invalid.")
			return
		}
		if region != f.Region {
			jsonError(w, 400, notFoundCode(service), "resource not found in "+region)
			return
		}
		switch service {
		case "AWSStepFunctions":
			f.stepFunctions(w, r, op, body)
		case "AmazonSQS":
			f.sqs(w, op, body)
		default:
			f.events(w, op, body)
		}
	case r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		form, _ := url.ParseQuery(string(body))
		f.record("CloudFormation." + form.Get("Action"))
		if key == f.BadAccessKey {
			queryError(w, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")
			return
		}
		f.cloudFormation(w, form, region)
	default:
		f.record("S3." + r.Method)
		f.s3.ServeHTTP(w, r)
	}
}

func notFoundCode(service string) string {
	switch service {
	case "AmazonSQS":
		return "QueueDoesNotExist"
	case "AWSStepFunctions":
		return "StateMachineDoesNotExist"
	}
	return "ResourceNotFoundException"
}

func jsonError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
	w.Write(b)
}

func jsonReply(w http.ResponseWriter, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Write(b)
}

func queryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake-request</RequestId></ErrorResponse>`, code, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// ---- CloudFormation (query protocol)

func (f *Fake) cloudFormation(w http.ResponseWriter, form url.Values, region string) {
	if form.Get("Action") != "DescribeStacks" || form.Get("Version") != "2010-05-15" {
		queryError(w, 400, "InvalidAction", "the fake serves DescribeStacks 2010-05-15 only")
		return
	}
	name := form.Get("StackName")
	outputs, ok := f.Stacks[name]
	if !ok || region != f.Region {
		queryError(w, 400, "ValidationError", "Stack with id "+name+" does not exist")
		return
	}
	keys := make([]string, 0, len(outputs))
	for k := range outputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(`<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>`)
	fmt.Fprintf(&b, `<StackId>arn:aws:cloudformation:%s:%s:stack/%s/00000000-0000-0000-0000-000000000000</StackId><StackName>%s</StackName>`, f.Region, Account, xmlEscape(name), xmlEscape(name))
	b.WriteString(`<CreationTime>2024-04-01T00:00:00Z</CreationTime><StackStatus>UPDATE_COMPLETE</StackStatus><Outputs>`)
	for _, k := range keys {
		fmt.Fprintf(&b, `<member><OutputKey>%s</OutputKey><OutputValue>%s</OutputValue></member>`, xmlEscape(k), xmlEscape(outputs[k]))
	}
	b.WriteString(`</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>fake-request</RequestId></ResponseMetadata></DescribeStacksResponse>`)
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, b.String())
}

// ---- Step Functions (JSON 1.0), on the local engine

const sfnJSON = "application/x-amz-json-1.0"

func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return float64(t.UnixNano()) / 1e9
}

func nameOf(arn string) string { return arn[strings.LastIndex(arn, ":")+1:] }

func (f *Fake) sfnError(w http.ResponseWriter, err error) {
	var (
		dne *engine.ExecutionDoesNotExistError
		ae  *engine.ExecutionAlreadyExistsError
		nr  *engine.ExecutionNotRedrivableError
		in  *engine.InvalidNameError
	)
	switch {
	case errors.As(err, &dne):
		jsonError(w, 400, "ExecutionDoesNotExist", err.Error())
	case errors.As(err, &ae):
		jsonError(w, 400, "ExecutionAlreadyExists", err.Error())
	case errors.As(err, &nr):
		jsonError(w, 400, "ExecutionNotRedrivable", err.Error())
	case errors.As(err, &in):
		jsonError(w, 400, "InvalidName", err.Error())
	default:
		jsonError(w, 500, "InternalFailure", err.Error())
	}
}

func describeJSON(x *engine.Execution) map[string]any {
	m := map[string]any{
		"executionArn": x.ExecutionARN, "stateMachineArn": x.StateMachineARN, "name": x.Name, "status": string(x.Status),
		"startDate": epoch(x.StartDate), "input": string(x.Input), "redriveCount": x.RedriveCount, "redriveStatus": x.RedriveStatus,
	}
	if !x.StopDate.IsZero() {
		m["stopDate"] = epoch(x.StopDate)
	}
	if !x.RedriveDate.IsZero() {
		m["redriveDate"] = epoch(x.RedriveDate)
	}
	for k, v := range map[string]string{"output": string(x.Output), "error": x.Error, "cause": x.Cause, "redriveStatusReason": x.RedriveStatusReason} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

func (f *Fake) stepFunctions(w http.ResponseWriter, r *http.Request, op string, body []byte) {
	var req struct {
		StateMachineArn string `json:"stateMachineArn"`
		ExecutionArn    string `json:"executionArn"`
		Name            string `json:"name"`
		Input           string `json:"input"`
		StatusFilter    string `json:"statusFilter"`
		MaxResults      int    `json:"maxResults"`
		NextToken       string `json:"nextToken"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		jsonError(w, 400, "SerializationException", err.Error())
		return
	}
	checkMachine := func(arn string) bool {
		if arn != f.StateMachineARN {
			jsonError(w, 400, "StateMachineDoesNotExist", "State Machine Does Not Exist: '"+arn+"'")
			return false
		}
		return true
	}
	page := func(n int, max int, token string) (int, int, string) {
		if max <= 0 || max > 1000 {
			max = 100
		}
		start, _ := strconv.Atoi(token)
		end := min(start+max, n)
		next := ""
		if end < n {
			next = strconv.Itoa(end)
		}
		return start, end, next
	}
	switch op {
	case "StartExecution":
		if !checkMachine(req.StateMachineArn) {
			return
		}
		x, err := f.Engine.Start(r.Context(), req.Name, []byte(req.Input))
		if err != nil {
			f.sfnError(w, err)
			return
		}
		jsonReply(w, sfnJSON, map[string]any{"executionArn": x.ExecutionARN, "startDate": epoch(x.StartDate)})
	case "DescribeStateMachine":
		if !checkMachine(req.StateMachineArn) {
			return
		}
		jsonReply(w, sfnJSON, map[string]any{"stateMachineArn": f.StateMachineARN, "name": nameOf(f.StateMachineARN), "status": "ACTIVE",
			"definition": f.Definition, "roleArn": "arn:aws:iam::" + Account + ":role/settle-state-machine", "type": "STANDARD", "creationDate": epoch(time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC))})
	case "DescribeExecution":
		x, err := f.Engine.Describe(nameOf(req.ExecutionArn))
		if err != nil {
			f.sfnError(w, err)
			return
		}
		if x.ExecutionARN != req.ExecutionArn {
			jsonError(w, 400, "ExecutionDoesNotExist", "Execution Does Not Exist: '"+req.ExecutionArn+"'")
			return
		}
		jsonReply(w, sfnJSON, describeJSON(x))
	case "RedriveExecution":
		x, err := f.Engine.Redrive(r.Context(), nameOf(req.ExecutionArn))
		if err != nil {
			f.sfnError(w, err)
			return
		}
		jsonReply(w, sfnJSON, map[string]any{"redriveDate": epoch(x.RedriveDate)})
	case "ListExecutions":
		if !checkMachine(req.StateMachineArn) {
			return
		}
		list, err := f.Engine.List()
		if err != nil {
			f.sfnError(w, err)
			return
		}
		var items []map[string]any
		for _, x := range list {
			if req.StatusFilter != "" && string(x.Status) != req.StatusFilter {
				continue
			}
			it := map[string]any{"executionArn": x.ExecutionARN, "stateMachineArn": x.StateMachineARN, "name": x.Name,
				"status": string(x.Status), "startDate": epoch(x.StartDate), "redriveCount": x.RedriveCount}
			if !x.StopDate.IsZero() {
				it["stopDate"] = epoch(x.StopDate)
			}
			if !x.RedriveDate.IsZero() {
				it["redriveDate"] = epoch(x.RedriveDate)
			}
			items = append(items, it)
		}
		start, end, next := page(len(items), req.MaxResults, req.NextToken)
		out := map[string]any{"executions": append([]map[string]any{}, items[start:end]...)}
		if next != "" {
			out["nextToken"] = next
		}
		jsonReply(w, sfnJSON, out)
	case "GetExecutionHistory":
		events, err := f.Engine.History(nameOf(req.ExecutionArn))
		if err != nil {
			f.sfnError(w, err)
			return
		}
		var items []map[string]any
		for _, ev := range events {
			b, _ := json.Marshal(ev) // the engine's events use the API's member names
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			m["timestamp"] = epoch(ev.Timestamp)
			items = append(items, m)
		}
		start, end, next := page(len(items), req.MaxResults, req.NextToken)
		out := map[string]any{"events": items[start:end]}
		if next != "" {
			out["nextToken"] = next
		}
		jsonReply(w, sfnJSON, out)
	default:
		jsonError(w, 400, "UnknownOperationException", "the fake does not serve "+op)
	}
}

// ---- SQS (JSON 1.0)

func (f *Fake) sqs(w http.ResponseWriter, op string, body []byte) {
	var req struct {
		QueueURL            string   `json:"QueueUrl"`
		AttributeNames      []string `json:"AttributeNames"`
		MaxNumberOfMessages int      `json:"MaxNumberOfMessages"`
		VisibilityTimeout   *int     `json:"VisibilityTimeout"`
		ReceiptHandle       string   `json:"ReceiptHandle"`
		SourceArn           string   `json:"SourceArn"`
		DestinationArn      string   `json:"DestinationArn"`
		MessageBody         string   `json:"MessageBody"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		jsonError(w, 400, "InvalidParameterValue", err.Error())
		return
	}
	if op == "ReceiveMessage" && f.OnReceive != nil {
		f.OnReceive(req.QueueURL)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.Now()
	q := f.queues[req.QueueURL]
	if q == nil && op != "StartMessageMoveTask" {
		w.Header().Set("X-Amzn-Query-Error", "AWS.SimpleQueueService.NonExistentQueue;Sender")
		jsonError(w, 400, "QueueDoesNotExist", "The specified queue does not exist.")
		return
	}
	switch op {
	case "GetQueueAttributes":
		var visible, inflight int
		for _, m := range q.msgs {
			if m.visibleAt.After(now) {
				inflight++
			} else {
				visible++
			}
		}
		jsonReply(w, sfnJSON, map[string]any{"Attributes": map[string]string{
			"ApproximateNumberOfMessages": strconv.Itoa(visible), "ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inflight),
			"ApproximateNumberOfMessagesDelayed": "0"}})
	case "SendMessage":
		f.mu.Unlock()
		id := f.Send(req.QueueURL, req.MessageBody)
		f.mu.Lock()
		sum := md5.Sum([]byte(req.MessageBody))
		jsonReply(w, sfnJSON, map[string]any{"MessageId": id, "MD5OfMessageBody": hex.EncodeToString(sum[:])})
	case "ReceiveMessage":
		max := req.MaxNumberOfMessages
		if max <= 0 {
			max = 1
		}
		if max > 10 {
			jsonError(w, 400, "InvalidParameterValue", "MaxNumberOfMessages must be between 1 and 10")
			return
		}
		vt := 30
		if req.VisibilityTimeout != nil {
			vt = *req.VisibilityTimeout
		}
		var out []map[string]any
		for _, m := range q.msgs {
			if len(out) == max {
				break
			}
			if m.visibleAt.After(now) {
				continue
			}
			m.receives++
			m.visibleAt = now.Add(time.Duration(vt) * time.Second)
			m.receipt = fmt.Sprintf("%s#%d", m.id, m.receives)
			sum := md5.Sum([]byte(m.body))
			out = append(out, map[string]any{"MessageId": m.id, "ReceiptHandle": m.receipt, "MD5OfBody": hex.EncodeToString(sum[:]), "Body": m.body,
				"Attributes": map[string]string{"SentTimestamp": strconv.FormatInt(m.sent.UnixMilli(), 10), "ApproximateReceiveCount": strconv.Itoa(m.receives)}})
		}
		reply := map[string]any{}
		if len(out) > 0 {
			reply["Messages"] = out
		}
		jsonReply(w, sfnJSON, reply)
	case "ChangeMessageVisibility", "DeleteMessage":
		for i, m := range q.msgs {
			if m.receipt == req.ReceiptHandle && m.receipt != "" {
				if op == "DeleteMessage" {
					q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
				} else if req.VisibilityTimeout != nil {
					m.visibleAt = now.Add(time.Duration(*req.VisibilityTimeout) * time.Second)
				}
				jsonReply(w, sfnJSON, map[string]any{})
				return
			}
		}
		jsonError(w, 400, "ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
	case "StartMessageMoveTask":
		var src, dst *queue
		for _, qq := range f.queues {
			if qq.arn == req.SourceArn {
				src = qq
			}
			if qq.arn == req.DestinationArn {
				dst = qq
			}
		}
		if src == nil || dst == nil {
			jsonError(w, 400, "ResourceNotFoundException", "The resource that you specified for the SourceArn or DestinationArn parameter doesn't exist.")
			return
		}
		for _, m := range src.msgs {
			dst.msgs = append(dst.msgs, &message{id: m.id, body: m.body, sent: now})
		}
		src.msgs = nil
		f.moves++
		jsonReply(w, sfnJSON, map[string]any{"TaskHandle": fmt.Sprintf("fake-move-task-%d", f.moves)})
	default:
		jsonError(w, 400, "UnsupportedOperation", "the fake does not serve "+op)
	}
}

// ---- EventBridge (JSON 1.1)

const eventsJSON = "application/x-amz-json-1.1"

func (f *Fake) events(w http.ResponseWriter, op string, body []byte) {
	var req struct {
		ArchiveName    string   `json:"ArchiveName"`
		ReplayName     string   `json:"ReplayName"`
		EventSourceArn string   `json:"EventSourceArn"`
		EventStartTime *float64 `json:"EventStartTime"`
		EventEndTime   *float64 `json:"EventEndTime"`
		Destination    struct {
			Arn        string   `json:"Arn"`
			FilterArns []string `json:"FilterArns"`
		} `json:"Destination"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		jsonError(w, 400, "ValidationException", err.Error())
		return
	}
	arn := "arn:aws:events:" + f.Region + ":" + Account + ":archive/" + f.Archive.Name
	state := f.Archive.State
	if state == "" {
		state = "ENABLED"
	}
	switch op {
	case "DescribeArchive":
		if req.ArchiveName != f.Archive.Name || f.Archive.Name == "" {
			jsonError(w, 400, "ResourceNotFoundException", "Archive "+req.ArchiveName+" does not exist.")
			return
		}
		jsonReply(w, eventsJSON, map[string]any{"ArchiveArn": arn, "ArchiveName": f.Archive.Name, "EventSourceArn": f.Archive.SourceARN,
			"State": state, "RetentionDays": f.Archive.RetentionDays, "SizeBytes": 4096, "EventCount": 3, "CreationTime": epoch(f.Archive.Created)})
	case "StartReplay":
		switch {
		case req.EventSourceArn != arn:
			jsonError(w, 400, "ValidationException", "EventSourceArn must be an archive ARN: "+req.EventSourceArn)
			return
		case req.EventStartTime == nil || req.EventEndTime == nil || *req.EventStartTime >= *req.EventEndTime:
			jsonError(w, 400, "ValidationException", "EventStartTime must be before EventEndTime")
			return
		case req.Destination.Arn != f.Archive.SourceARN:
			jsonError(w, 400, "ValidationException", "Destination must be the archive's event bus "+f.Archive.SourceARN)
			return
		}
		f.mu.Lock()
		for _, r := range f.replays {
			if r.Name == req.ReplayName {
				f.mu.Unlock()
				jsonError(w, 400, "ResourceAlreadyExistsException", "Replay "+req.ReplayName+" already exists.")
				return
			}
		}
		f.replays = append(f.replays, Replay{Name: req.ReplayName, EventSourceArn: req.EventSourceArn, Destination: req.Destination.Arn,
			FilterArns: req.Destination.FilterArns, Start: fromEpoch(*req.EventStartTime), End: fromEpoch(*req.EventEndTime)})
		f.mu.Unlock()
		jsonReply(w, eventsJSON, map[string]any{"ReplayArn": "arn:aws:events:" + f.Region + ":" + Account + ":replay/" + req.ReplayName,
			"State": "STARTING", "ReplayStartTime": epoch(f.Now())})
	default:
		jsonError(w, 400, "UnknownOperationException", "the fake does not serve "+op)
	}
}

func fromEpoch(s float64) time.Time {
	return time.Unix(0, int64(s*1e9)).UTC()
}
