// Package progress prints istioctl-style progress: one line per component
// that gets a check mark when it is done or a cross when it failed.
//
// On a terminal the components still in progress share one status line
// with a spinner, redrawn in place, e.g. "- Processing resources for Egress
// gateways, Ingress gateways. Waiting for
// Deployment/istio-system/istio-egressgateway".
// Anywhere else (a pipe, a file, a CI log) nothing is redrawn: a waiting
// line is printed only when what a component waits for changes.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// Marks printed at the start of the final line of a step.
const (
	DoneMark = "✔"
	FailMark = "✘"
)

// spinnerFrames turn, one byte a frame, at spinnerInterval on a terminal.
const spinnerFrames = `-\|/`

const spinnerInterval = 120 * time.Millisecond

// Writer prints the progress of steps to one output. Its methods and those
// of its Steps may be called from several goroutines (one per step).
type Writer struct {
	out      io.Writer
	tty      bool
	width    func() int
	interval time.Duration

	mu      sync.Mutex
	active  []*Step // steps started and not finished, in start order
	frame   int
	drawn   bool          // a status line is on screen (terminal only)
	stopped chan struct{} // closed to stop the spinner; nil when none runs
}

// New returns a Writer on out: with a redrawn spinner line when out is an
// *os.File on a terminal, with plain lines otherwise.
func New(out io.Writer) *Writer {
	f, ok := out.(*os.File)
	if ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		return newWriter(out, true, func() int {
			w, _, err := term.GetSize(fd)
			if err != nil {
				return 0
			}
			return w
		}, spinnerInterval)
	}
	return newWriter(out, false, nil, spinnerInterval)
}

func newWriter(out io.Writer, tty bool, width func() int, interval time.Duration) *Writer {
	if width == nil {
		width = func() int { return 0 }
	}
	return &Writer{out: out, tty: tty, width: width, interval: interval}
}

// Step is one component in progress, e.g. "Istiod".
type Step struct {
	w         *Writer
	component string
	detail    string // what it waits for; guarded by w.mu
	printed   string // the detail of the last plain waiting line
	finished  bool
}

// Start begins a step for a component. Nothing is printed yet on plain
// output; on a terminal the component joins the status line.
func (w *Writer) Start(component string) *Step {
	s := &Step{w: w, component: component}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active = append(w.active, s)
	if w.tty {
		w.startSpinnerLocked()
		w.drawLocked()
	}
	return s
}

// Waiting says what the step waits for, e.g.
// "Deployment/istio-system/istiod"; the line reads
// "- Processing resources for Istiod. Waiting for Deployment/istio-system/istiod".
// An empty detail leaves out the "Waiting for" part. On plain output the
// line is printed only when the detail changes.
func (s *Step) Waiting(detail string) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.finished {
		return
	}
	s.detail = detail
	if w.tty {
		w.drawLocked()
		return
	}
	if detail == s.printed {
		return
	}
	s.printed = detail
	fmt.Fprintln(w.out, waitingLine("-", []*Step{s}))
}

// Done ends the step with "✔ text", e.g. "✔ Istiod installed". Calls after
// the step ended are ignored.
func (s *Step) Done(text string) {
	s.finish(DoneMark+" "+text, "")
}

// Fail ends the step with "✘ text" and the reason, indented, on the lines
// after it. Calls after the step ended are ignored.
func (s *Step) Fail(text, reason string) {
	s.finish(FailMark+" "+text, reason)
}

func (s *Step) finish(line, reason string) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.finished {
		return
	}
	s.finished = true
	for i, a := range w.active {
		if a == s {
			w.active = append(w.active[:i], w.active[i+1:]...)
			break
		}
	}
	w.clearLocked()
	fmt.Fprintln(w.out, line)
	if reason = strings.TrimRight(reason, "\n"); reason != "" {
		for _, l := range strings.Split(reason, "\n") {
			fmt.Fprintln(w.out, "  "+l)
		}
	}
	if w.tty {
		if len(w.active) == 0 {
			w.stopSpinnerLocked()
		} else {
			w.drawLocked()
		}
	}
}

// Complete prints the final line, "✔ text" (e.g. "✔ Installation
// complete"), and stops the spinner of any step left unfinished.
func (w *Writer) Complete(text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.clearLocked()
	w.stopSpinnerLocked()
	fmt.Fprintln(w.out, DoneMark+" "+text)
	if w.tty && len(w.active) > 0 {
		w.drawLocked()
	}
}

// waitingLine is the status line of the steps in progress.
func waitingLine(spinner string, steps []*Step) string {
	names := make([]string, 0, len(steps))
	var details []string
	for _, s := range steps {
		names = append(names, s.component)
		if s.detail != "" {
			details = append(details, s.detail)
		}
	}
	line := spinner + " Processing resources for " + strings.Join(names, ", ") + "."
	if len(details) > 0 {
		line += " Waiting for " + strings.Join(details, ", ")
	}
	return line
}

// drawLocked redraws the status line in place (terminal only).
func (w *Writer) drawLocked() {
	if !w.tty {
		return
	}
	if len(w.active) == 0 {
		w.clearLocked()
		return
	}
	frame := w.frame % len(spinnerFrames)
	line := waitingLine(spinnerFrames[frame:frame+1], w.active)
	// A line wider than the terminal wraps, and \r would then only clear
	// its last row: cut it to fit.
	if width := w.width(); width > 1 && utf8.RuneCountInString(line) >= width {
		r := []rune(line)
		line = string(r[:width-1])
	}
	fmt.Fprint(w.out, "\r\x1b[K"+line)
	w.drawn = true
}

// clearLocked removes the status line so that a final line can take its
// place.
func (w *Writer) clearLocked() {
	if w.drawn {
		fmt.Fprint(w.out, "\r\x1b[K")
		w.drawn = false
	}
}

func (w *Writer) startSpinnerLocked() {
	if w.stopped != nil {
		return
	}
	stop := make(chan struct{})
	w.stopped = stop
	go func() {
		t := time.NewTicker(w.interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				w.mu.Lock()
				// Stopped while this tick waited for the lock.
				if w.stopped == stop {
					w.frame++
					w.drawLocked()
				}
				w.mu.Unlock()
			}
		}
	}()
}

func (w *Writer) stopSpinnerLocked() {
	if w.stopped != nil {
		close(w.stopped)
		w.stopped = nil
	}
}
