// Package ui is the operator's console in a browser: `settle ui` on a data folder and `settle aws ui` on
// a stack. It is an http.Handler over the same ops.Operator the operator commands use, so that every
// decision (what a redrive does, how a reprocess is named, what is refused) is the commands' own, in
// the target's words. Pages are rendered on the server with html/template; the state machine is drawn
// as inline SVG from the definition the pipeline runs; the only script opens a state's input and
// output when its node is clicked.
//
// Actions are POST forms carrying a token made for the run (a random value the page embeds in each
// form): a request without it, or with another, is refused with 403, and an action asked for by GET
// with 405. With Loopback set, a request whose Host is not a loopback name is refused too, so that a
// web page cannot reach the console through a DNS name rebound to 127.0.0.1.
package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/workflow"
)

//go:embed templates/*.html static/*
var files embed.FS

// Options are what the console shows and acts through.
type Options struct {
	// Operator is the operator of the data folder or the stack (the commands' own).
	Operator *ops.Operator
	// Where is the header: "Data folder settle-data" or "Stack settle in eu-west-1".
	Where string
	// Command is a verb's command line in the target's words ("settle show", "settle aws show").
	Command func(verb string) string
	// File is where a file is (a local path, an s3:// address); Output where an object of the
	// processed bucket is; Text a message of the pipeline in the target's words.
	File   func(workflow.FileRef) string
	Output func(key string) string
	Text   func(string) string
	// Advice says what to do about an execution, with the command that does it (the show command's).
	Advice func(*ops.Detail) string
	// Cause lays out a failure's cause (in the target's words) over lines, as show does; nil: as it is.
	Cause func(string) string
	// Definition is the state machine definition the target runs (its JSON).
	Definition []byte
	// Token is the run's token for actions; empty: a random one.
	Token string
	// Loopback refuses requests whose Host is not a loopback name (localhost, 127.0.0.1, ::1).
	Loopback bool
	// Context is the console's lifetime (nil: never ending). An action runs under it rather than under
	// its request, so that a tab closed while a local execution runs does not abort it; stopping the
	// console does.
	Context context.Context
	// Since is the default of the executions page's time filter, as the commands take it ("" for all,
	// "24h" on a stack); Parse reads such a value.
	Since      string
	ParseSince func(string) (time.Time, error)
}

// Server is the console.
type Server struct {
	o     Options
	graph *Graph
	pages map[string]*template.Template
	mux   *http.ServeMux
	// act serialises the actions: one restart at a time, as one person at a terminal would run them.
	act sync.Mutex
}

// New builds the console.
func New(o Options) (*Server, error) {
	if o.Operator == nil {
		return nil, fmt.Errorf("ui: no operator")
	}
	g, err := ParseGraph(o.Definition)
	if err != nil {
		return nil, err
	}
	if o.Token == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		o.Token = hex.EncodeToString(b)
	}
	for _, f := range []*func(string) string{&o.Command, &o.Text, &o.Output, &o.Cause} {
		if *f == nil {
			*f = func(s string) string { return s }
		}
	}
	if o.File == nil {
		o.File = func(f workflow.FileRef) string { return f.URL() }
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.Advice == nil {
		o.Advice = func(*ops.Detail) string { return "" }
	}
	s := &Server{o: o, graph: g, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	if err := s.parse(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// Token is the run's token, which every action form carries.
func (s *Server) Token() string { return s.o.Token }

func (s *Server) routes() {
	static, _ := fs.Sub(files, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.executions)
	s.mux.HandleFunc("GET /executions/{name}", s.execution)
	s.mux.HandleFunc("GET /executions/{name}/events/{id}/{part}", s.eventData)
	s.mux.HandleFunc("GET /executions/{name}/rejected", s.rejected)
	s.mux.HandleFunc("GET /batches", s.batches)
	s.mux.HandleFunc("GET /failed", s.failedFiles)
	// Actions: POST only (the mux answers another method with 405), each checked for the token.
	s.mux.HandleFunc("POST /executions/{name}/redrive", s.guard(s.redrive))
	s.mux.HandleFunc("POST /executions/{name}/reprocess", s.guard(s.reprocess))
	s.mux.HandleFunc("POST /batches/ack", s.guard(s.ack))
	s.mux.HandleFunc("POST /failed/redrive", s.guard(s.redriveQueue))
}

// ServeHTTP serves the console, refusing a Host that is not a loopback name when Loopback is set.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.o.Loopback && !loopbackHost(r.Host) {
		http.Error(w, "refused: this console answers only on a loopback address (open the URL settle ui printed)", http.StatusForbidden)
		return
	}
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	s.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether a request's Host names the loopback interface.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// guard lets an action through only with the run's token in its form, and not from another site.
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
			return
		}
		got := r.PostFormValue("token")
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.o.Token)) != 1 || r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			s.say(w, http.StatusForbidden, "refused: the request does not carry this console's token (a form of another run, or of another site). Nothing was done; reload the page and try again.")
			return
		}
		s.act.Lock()
		defer s.act.Unlock()
		h(w, r.WithContext(s.o.Context))
	}
}

// pageContext bounds a page's calls to the operator (not an action's: it runs to its end).
func pageContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 2*time.Minute)
}
