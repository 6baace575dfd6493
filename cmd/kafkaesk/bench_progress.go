package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// progress is bench's live status on stderr. On a terminal it is one line
// redrawn in place on every sample (250ms); elsewhere (a file, a CI log)
// it is a new line a second, so that logs stay readable. Plain lines
// rather than a progress-bar library: a load test has no total to fill a
// bar with, only counters, and a library would add a dependency for a
// carriage return.
//
// progress is also the io.Writer for messages printed meanwhile (the
// handler's warnings, the scenario's events): on a terminal it clears the
// status line first, and the next sample redraws it below.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	shown bool      // tty: a status line is on screen, not ended
	last  time.Time // not a tty: when the last line was printed
}

// progressEvery is how often a status line is printed when stderr is not
// a terminal.
const progressEvery = time.Second

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		p.tty = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	return p
}

// show displays a status line; last forces it out whatever the time.
func (p *progress) show(line string, last bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		io.WriteString(p.w, "\r"+line+"\x1b[K")
		p.shown = true
		return
	}
	if now := time.Now(); last || now.Sub(p.last) >= progressEvery {
		p.last = now
		io.WriteString(p.w, line+"\n")
	}
}

// end ends the status line on a terminal, so that what follows starts on
// a line of its own.
func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		io.WriteString(p.w, "\n")
		p.shown = false
	}
}

// Write prints b (whole lines) above the status line.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		io.WriteString(p.w, "\r\x1b[K")
		p.shown = false
	}
	return p.w.Write(b)
}
