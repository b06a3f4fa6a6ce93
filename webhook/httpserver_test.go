package webhook

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-mesh/kubectl-mesh/test/harness"
)

// startServer serves an echo handler with opts on a loopback port, with the
// harness's serving certificate.
func startServer(t *testing.T, opts ServerOptions) (addr string, ca []byte) {
	t.Helper()
	dir := t.TempDir()
	ca, err := harness.ServingCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.CertDir = "127.0.0.1", port, dir
	s := NewServer(opts)
	s.Register("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "%s %d", r.Proto, len(b))
	}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	})
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(5 * time.Second); s.StartedChecker()(nil) != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server does not listen")
		}
	}
	return addr, ca
}

func dialTLS(addr string, cfg *tls.Config) (*tls.Conn, error) {
	cfg.InsecureSkipVerify = true //nolint:gosec // the test checks protocol, not identity
	return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
}

// TestServerTLSDefaults: TLS 1.2 at least, no CBC suite, no HTTP/2 unless
// asked for.
func TestServerTLSDefaults(t *testing.T) {
	addr, _ := startServer(t, ServerOptions{})
	if c, err := dialTLS(addr, &tls.Config{MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("TLS 1.1 accepted")
	}
	c, err := dialTLS(addr, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}})
	if err == nil {
		c.Close()
		t.Error("a CBC suite accepted")
	}
	c, err = dialTLS(addr, &tls.Config{MaxVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("TLS 1.2 with a GCM suite: %v", err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
		t.Errorf("negotiated %q by default", p)
	}
	c.Close()

	addr, _ = startServer(t, ServerOptions{EnableHTTP2: true, MinVersion: tls.VersionTLS13})
	if c, err := dialTLS(addr, &tls.Config{MaxVersion: tls.VersionTLS12}); err == nil {
		c.Close()
		t.Error("TLS 1.2 accepted with a minimum of 1.3")
	}
	c, err = dialTLS(addr, &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Errorf("negotiated %q with HTTP/2 enabled", p)
	}
	c.Close()
}

// TestServerDeadlines: a client trickling its headers or its body is cut
// off at the deadlines, not kept for as long as it trickles.
func TestServerDeadlines(t *testing.T) {
	addr, _ := startServer(t, ServerOptions{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 800 * time.Millisecond})
	for _, tc := range []struct {
		name  string
		first string
		limit time.Duration
	}{
		{"headers", "POST / HTTP/1.1\r\nHost: x\r\n", 300 * time.Millisecond},
		{"body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", 800 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialTLS(addr, &tls.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			if _, err := io.WriteString(c, tc.first); err != nil {
				t.Fatal(err)
			}
			// One byte every 100 ms, as long as the server takes it.
			var werr error
			for time.Since(start) < 10*time.Second && werr == nil {
				time.Sleep(100 * time.Millisecond)
				_, werr = io.WriteString(c, "x")
				if werr == nil {
					_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
					if _, rerr := c.Read(make([]byte, 1)); rerr != nil && !strings.Contains(rerr.Error(), "timeout") {
						werr = rerr
					}
				}
			}
			if took := time.Since(start); werr == nil || took > tc.limit+time.Second {
				t.Errorf("connection open %v after the first byte (error %v), want closed about %v", took, werr, tc.limit)
			}
		})
	}
}

func TestParseTLSFlags(t *testing.T) {
	if _, err := ParseCipherSuites("TLS_RSA_WITH_RC4_128_SHA"); err == nil {
		t.Error("an insecure suite accepted")
	}
	if _, err := ParseCipherSuites("TLS_NOPE"); err == nil {
		t.Error("an unknown suite accepted")
	}
	if got, err := ParseCipherSuites("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"); err != nil || len(got) != 2 {
		t.Errorf("%v, %v", got, err)
	}
	if _, err := ParseTLSVersion("1.1"); err == nil {
		t.Error("TLS 1.1 accepted")
	}
	for _, id := range DefaultCipherSuites() {
		if name := tls.CipherSuiteName(id); strings.Contains(name, "CBC") {
			t.Errorf("default suite %s", name)
		}
	}
}

// TestServerClientCA: with --client-ca-file, a client without a
// certificate that CA signed is refused, one with it is served.
func TestServerClientCA(t *testing.T) {
	clientDir := t.TempDir()
	clientCA, err := harness.ServingCert(clientDir)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(clientDir, "ca.crt")
	if err := os.WriteFile(caFile, clientCA, 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _ := startServer(t, ServerOptions{ClientCAFile: caFile})
	get := func(certs []tls.Certificate) error {
		c, err := dialTLS(addr, &tls.Config{Certificates: certs})
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"); err != nil {
			return err
		}
		// TLS 1.3 reports a refused client certificate on the first read.
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := get(nil); err == nil {
		t.Error("served a client without a certificate")
	}
	otherDir := t.TempDir()
	if _, err := harness.ServingCert(otherDir); err != nil {
		t.Fatal(err)
	}
	other, err := tls.LoadX509KeyPair(filepath.Join(otherDir, "tls.crt"), filepath.Join(otherDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := get([]tls.Certificate{other}); err == nil {
		t.Error("served a client whose certificate another CA signed")
	}
	mine, err := tls.LoadX509KeyPair(filepath.Join(clientDir, "tls.crt"), filepath.Join(clientDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := get([]tls.Certificate{mine}); err != nil {
		t.Errorf("refused the API server's certificate: %v", err)
	}
}
