package progress

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the spinner goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPlainLines(t *testing.T) {
	var out bytes.Buffer
	w := New(&out) // not a terminal: plain lines
	core := w.Start("Istio core")
	core.Done("Istio core installed")
	istiod := w.Start("Istiod")
	istiod.Waiting("Deployment/istio-system/istiod")
	istiod.Waiting("Deployment/istio-system/istiod") // unchanged: no new line
	istiod.Done("Istiod installed")
	istiod.Done("Istiod installed twice") // ignored
	gw := w.Start("Ingress gateways")
	gw.Waiting("")
	gw.Waiting("Deployment/istio-system/istio-ingressgateway")
	gw.Fail("Ingress gateways encountered an error", "Deployment/istio-system/istio-ingressgateway: 0/1 ready\n  pod x: ImagePullBackOff\n")
	gw.Waiting("late") // ignored after the end
	w.Complete("Installation complete")

	want := `✔ Istio core installed
- Processing resources for Istiod. Waiting for Deployment/istio-system/istiod
✔ Istiod installed
- Processing resources for Ingress gateways. Waiting for Deployment/istio-system/istio-ingressgateway
✘ Ingress gateways encountered an error
  Deployment/istio-system/istio-ingressgateway: 0/1 ready
    pod x: ImagePullBackOff
✔ Installation complete
`
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestPlainEmptyDetailAfterStart(t *testing.T) {
	var out bytes.Buffer
	w := New(&out)
	s := w.Start("Istiod")
	s.Waiting("a")
	s.Waiting("")
	s.Done("Istiod installed")
	want := "- Processing resources for Istiod. Waiting for a\n- Processing resources for Istiod.\n✔ Istiod installed\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestTerminalRedrawsOneStatusLine(t *testing.T) {
	var out syncBuffer
	// An interval long enough that the spinner does not tick mid-test.
	w := newWriter(&out, true, nil, time.Hour)
	eg := w.Start("Egress gateways")
	ig := w.Start("Ingress gateways")
	eg.Waiting("Deployment/istio-system/istio-egressgateway")
	ig.Waiting("Deployment/istio-system/istio-ingressgateway")
	eg.Done("Egress gateways installed")
	ig.Done("Ingress gateways installed")
	w.Complete("Installation complete")

	got := out.String()
	for _, want := range []string{
		"\r\x1b[K- Processing resources for Egress gateways, Ingress gateways. Waiting for Deployment/istio-system/istio-egressgateway, Deployment/istio-system/istio-ingressgateway",
		"\r\x1b[K✔ Egress gateways installed\n",
		"\r\x1b[K- Processing resources for Ingress gateways. Waiting for Deployment/istio-system/istio-ingressgateway",
		"\r\x1b[K✔ Ingress gateways installed\n✔ Installation complete\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%q", want, got)
		}
	}
	if !strings.HasSuffix(got, "✔ Installation complete\n") {
		t.Errorf("the status line was left on screen:\n%q", got)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped != nil {
		t.Error("the spinner still runs after every step ended")
	}
}

func TestTerminalSpinnerTurnsAndFits(t *testing.T) {
	var out syncBuffer
	w := newWriter(&out, true, func() int { return 40 }, time.Millisecond)
	s := w.Start("Istiod")
	s.Waiting("Deployment/istio-system/istiod")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), `\ Processing`) || !strings.Contains(out.String(), "| Processing") {
		if time.Now().After(deadline) {
			t.Fatalf("the spinner did not turn:\n%q", out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.Fail("Istiod encountered an error", "why")
	got := out.String()
	for _, line := range strings.Split(got, "\r\x1b[K") {
		if strings.Contains(line, "Processing") && len([]rune(line)) >= 40 {
			t.Errorf("status line %q is not cut to the 40-column terminal", line)
		}
	}
	if !strings.HasSuffix(got, "\r\x1b[K✘ Istiod encountered an error\n  why\n") {
		t.Errorf("output ends %q", got[max(0, len(got)-80):])
	}
}

func TestConcurrentSteps(t *testing.T) {
	var out syncBuffer
	w := newWriter(&out, true, nil, time.Millisecond)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			s := w.Start(fmt.Sprintf("c%d", i))
			for j := range 50 {
				s.Waiting(fmt.Sprintf("d%d", j))
			}
			s.Done(fmt.Sprintf("c%d installed", i))
		})
	}
	wg.Wait()
	w.Complete("Installation complete")
	got := out.String()
	for i := range 8 {
		if !strings.Contains(got, fmt.Sprintf("✔ c%d installed\n", i)) {
			t.Errorf("missing the end of c%d", i)
		}
	}
}
