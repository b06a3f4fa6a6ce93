package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// ServerOptions configure the HTTPS server of /validate. Whoever can reach
// the pod's port can open connections, so every read has a deadline and
// TLS is restricted.
type ServerOptions struct {
	Host    string
	Port    int
	CertDir string
	// ClientCAFile, when set, makes the server require a client
	// certificate signed by it (the API server's, see docs/webhook.md).
	ClientCAFile string
	// MinVersion and CipherSuites of TLS (suites apply below TLS 1.3).
	MinVersion   uint16
	CipherSuites []uint16
	// EnableHTTP2 offers h2; off by default (HTTP/2 rapid reset,
	// CVE-2023-44487), as the API server speaks HTTP/1.1 to webhooks fine.
	EnableHTTP2 bool
	// ReadHeaderTimeout bounds the request line and headers; ReadTimeout
	// the whole request, body included.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
}

// Server deadlines: a webhook call from the API server lasts at most its
// timeoutSeconds (3 s in the chart, 30 s at most).
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 90 * time.Second
	maxHeaderBytes           = 64 << 10
)

// Server is mesh-webhook's HTTPS server; it implements controller-runtime's
// webhook.Server, whose own server offers neither read deadlines shorter
// than 32 s for headers, nor any for bodies, nor HTTP/2 off.
type Server struct {
	opts ServerOptions
	mux  *http.ServeMux

	mu      sync.Mutex
	started bool
}

// NewServer returns a server with opts.
func NewServer(opts ServerOptions) *Server {
	return &Server{opts: opts, mux: http.NewServeMux()}
}

// NeedLeaderElection implements webhook.Server: every replica serves.
func (s *Server) NeedLeaderElection() bool { return false }

// Register implements webhook.Server.
func (s *Server) Register(path string, h http.Handler) { s.mux.Handle(path, h) }

// WebhookMux implements webhook.Server.
func (s *Server) WebhookMux() *http.ServeMux { return s.mux }

// TLSConfig is the server's TLS configuration without its certificate.
func (o ServerOptions) TLSConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: o.MinVersion, CipherSuites: o.CipherSuites, NextProtos: []string{"http/1.1"}}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.CipherSuites == nil {
		cfg.CipherSuites = DefaultCipherSuites()
	}
	if o.EnableHTTP2 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	if o.ClientCAFile != "" {
		pem, err := os.ReadFile(o.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading --client-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--client-ca-file %s holds no PEM certificate", o.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// httpServer is the net/http server with the options' deadlines.
func (o ServerOptions) httpServer(h http.Handler) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: orDefault(o.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       orDefault(o.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      orDefault(o.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       orDefault(o.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    maxHeaderBytes,
	}
	if !o.EnableHTTP2 {
		// A non-nil empty map keeps net/http from adding h2 itself.
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	return srv
}

// Start serves until ctx ends, reloading the certificate when its files
// change.
func (s *Server) Start(ctx context.Context) error {
	cfg, err := s.opts.TLSConfig()
	if err != nil {
		return err
	}
	cw, err := certwatcher.New(filepath.Join(s.opts.CertDir, "tls.crt"), filepath.Join(s.opts.CertDir, "tls.key"))
	if err != nil {
		return fmt.Errorf("loading the serving certificate: %w", err)
	}
	go func() { _ = cw.Start(ctx) }()
	cfg.GetCertificate = cw.GetCertificate
	l, err := tls.Listen("tcp", net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port)), cfg)
	if err != nil {
		return fmt.Errorf("listening on port %d: %w", s.opts.Port, err)
	}
	return s.serve(ctx, l)
}

func (s *Server) serve(ctx context.Context, l net.Listener) error {
	srv := s.opts.httpServer(s.mux)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-done
	return nil
}

// StartedChecker implements webhook.Server: healthy once serving.
func (s *Server) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.started {
			return errors.New("webhook server has not started yet")
		}
		return nil
	}
}

// DefaultCipherSuites are Go's secure suites for TLS 1.2 without the CBC
// ones (Lucky13-style padding oracles): ECDHE with AES-GCM or ChaCha20.
func DefaultCipherSuites() []uint16 {
	var out []uint16
	for _, c := range tls.CipherSuites() {
		if !strings.Contains(c.Name, "_CBC_") && supportsTLS12(c) {
			out = append(out, c.ID)
		}
	}
	return out
}

func supportsTLS12(c *tls.CipherSuite) bool {
	for _, v := range c.SupportedVersions {
		if v == tls.VersionTLS12 {
			return true
		}
	}
	return false
}

// ParseTLSVersion reads 1.2 or 1.3 (VersionTLS12 and VersionTLS13 too).
func ParseTLSVersion(s string) (uint16, error) {
	switch s {
	case "1.2", "VersionTLS12":
		return tls.VersionTLS12, nil
	case "1.3", "VersionTLS13":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("TLS version %q is not one of 1.2, 1.3", s)
}

// ParseCipherSuites reads a comma-separated list of Go's (IANA) suite
// names; the insecure ones are refused.
func ParseCipherSuites(s string) ([]uint16, error) {
	byName := map[string]uint16{}
	for _, c := range tls.CipherSuites() {
		byName[c.Name] = c.ID
	}
	insecure := map[string]bool{}
	for _, c := range tls.InsecureCipherSuites() {
		insecure[c.Name] = true
	}
	var out []uint16
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		id, ok := byName[name]
		switch {
		case insecure[name]:
			return nil, fmt.Errorf("cipher suite %s is insecure", name)
		case !ok:
			return nil, fmt.Errorf("unknown cipher suite %q", name)
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, errors.New("no cipher suite given")
	}
	return out, nil
}
