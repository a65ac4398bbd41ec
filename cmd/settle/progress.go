package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/store"
)

// progress shows how far settle run has come with a file. On a terminal it draws a bar per step of the
// state machine (Check, Validate, Transform, Write) with the bytes of the report read, rows per second
// and the time left, with mpb. A bar completes when its step ends (not when the step has read the whole
// file: it may still be working), and is drawn a last time and gone before the next step's bar starts:
// one bar at most is on the screen, and the file's summary line follows on a clean screen. Elsewhere (a
// pipe, a log) it prints a line on stderr at most every app.progressEvery, naming the file and the step.
// It learns the step from the engine's history events (OnEvent) and the bytes from the raw bucket's
// readers (WrapRaw); rows are the lines read. The terminal check and the clock are the app's, so tests
// draw bars and lines without a terminal or the wall clock.
type progress struct {
	a        *app
	terminal bool

	mu     sync.Mutex
	file   string
	size   int64
	fileAt time.Time
	step   *stepStat
	last   time.Time // the last line printed (no terminal)
	bars   *mpb.Progress
	bar    *mpb.Bar
}

// stepStat is what one step has read so far.
type stepStat struct {
	name       string
	start      time.Time
	read, rows atomic.Int64
	checked    atomic.Int64 // read, when the clock was last looked at
}

func newProgress(a *app) *progress {
	return &progress{a: a, terminal: a.stderrTerminal()}
}

// begin starts a file of size bytes.
func (p *progress) begin(file string, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.file, p.size, p.fileAt, p.last = file, size, p.a.now(), time.Time{}
}

// end ends the file: its bars are completed and cleared.
func (p *progress) end() {
	p.endStep()
	p.mu.Lock()
	bars := p.bars
	p.bars, p.step = nil, nil
	p.mu.Unlock()
	if bars != nil {
		bars.Wait()
	}
}

// onEvent follows the engine's history: a task state entered starts its step, one exited ends it.
func (p *progress) onEvent(_ string, ev engine.Event) {
	switch {
	case ev.Type == engine.EventTaskStateEntered && ev.StateEnteredEventDetails != nil:
		p.startStep(ev.StateEnteredEventDetails.Name)
	case ev.Type == engine.EventTaskStateExited:
		p.endStep()
	}
}

func (p *progress) startStep(name string) {
	p.endStep()
	st := &stepStat{name: name, start: p.a.now()}
	p.mu.Lock()
	p.step = st
	if !p.terminal {
		p.mu.Unlock()
		return
	}
	if p.bars == nil {
		opts := []mpb.ContainerOption{mpb.WithOutput(p.a.stderr), mpb.WithWidth(100)}
		if p.a.progressRefresh != nil {
			opts = append(opts, mpb.WithManualRefresh(p.a.progressRefresh))
		}
		p.bars = mpb.New(opts...)
	}
	bars, size := p.bars, p.size
	p.mu.Unlock()
	// Made with no total, the bar does not complete by itself when the bytes read reach the size
	// (SetCurrent): only endStep completes it.
	bar := bars.New(0, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncWidthR), decor.Any(func(s decor.Statistics) string {
			return fmt.Sprintf("%s / %s", bytesize(s.Current), bytesize(s.Total))
		}, decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string { return p.rate(st) }, decor.WCSyncSpace),
			decor.Any(func(s decor.Statistics) string { return "ETA " + p.eta(st) }, decor.WCSyncSpace)),
		mpb.BarRemoveOnComplete())
	bar.SetTotal(size, false)
	p.mu.Lock()
	p.bar = bar
	p.mu.Unlock()
}

func (p *progress) endStep() {
	p.mu.Lock()
	bar := p.bar
	p.bar = nil
	p.mu.Unlock()
	if bar != nil {
		bar.SetTotal(-1, true) // complete: the bar is drawn a last time and goes
		bar.Wait()
	}
}

// clockEvery is how many bytes are read between two looks at the clock (no terminal).
const clockEvery = 256 << 10

// add counts bytes and lines read from the raw bucket.
func (p *progress) add(n int, lines int) {
	p.mu.Lock()
	st, bar := p.step, p.bar
	p.mu.Unlock()
	if st == nil {
		return
	}
	read := st.read.Add(int64(n))
	st.rows.Add(int64(lines))
	if bar != nil {
		bar.SetCurrent(read)
		return
	}
	if p.terminal || read-st.checked.Load() < clockEvery {
		return
	}
	st.checked.Store(read)
	now := p.a.now()
	p.mu.Lock()
	due := now.Sub(p.fileAt) >= p.a.progressEvery && now.Sub(p.last) >= p.a.progressEvery
	if due {
		p.last = now
	}
	file, size := p.file, p.size
	p.mu.Unlock()
	if due {
		pct := ""
		if size > 0 {
			pct = fmt.Sprintf(" (%d%%)", read*100/size)
		}
		fmt.Fprintf(p.a.stderr, "settle: %s: %s %s of %s%s, %d rows, %s, ETA %s\n", file, st.name, bytesize(read), bytesize(size), pct, st.rows.Load(), p.rate(st), p.eta(st))
	}
}

// rate is the step's rows per second so far.
func (p *progress) rate(st *stepStat) string {
	el := p.a.now().Sub(st.start).Seconds()
	if el <= 0 {
		return "- rows/s"
	}
	return fmt.Sprintf("%.0f rows/s", float64(st.rows.Load())/el)
}

// eta is the time the step needs for the rest of the file at its pace so far.
func (p *progress) eta(st *stepStat) string {
	p.mu.Lock()
	size := p.size
	p.mu.Unlock()
	read := st.read.Load()
	el := p.a.now().Sub(st.start)
	if read <= 0 || el <= 0 || size <= read {
		return "-"
	}
	left := time.Duration(float64(el) * float64(size-read) / float64(read))
	return left.Round(time.Second).String()
}

// bytesize writes a size in binary units.
func bytesize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// wrap decorates the raw bucket so that what the steps read is counted.
func (p *progress) wrap(b store.Bucket) store.Bucket { return &progressBucket{Bucket: b, p: p} }

type progressBucket struct {
	store.Bucket
	p *progress
}

func (b *progressBucket) Open(ctx context.Context, key, ifMatch string) (io.ReadCloser, error) {
	rc, err := b.Bucket.Open(ctx, key, ifMatch)
	if err != nil {
		return nil, err
	}
	return &progressReader{ReadCloser: rc, p: b.p}, nil
}

func (b *progressBucket) OpenRange(ctx context.Context, key, ifMatch string, off, n int64) (io.ReadCloser, error) {
	rc, err := b.Bucket.OpenRange(ctx, key, ifMatch, off, n)
	if err != nil {
		return nil, err
	}
	return &progressReader{ReadCloser: rc, p: b.p}, nil
}

type progressReader struct {
	io.ReadCloser
	p *progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	if n > 0 {
		r.p.add(n, bytes.Count(b[:n], []byte{'\n'}))
	}
	return n, err
}
