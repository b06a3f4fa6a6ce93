package webhook

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// Path is the one path mesh-webhook serves AdmissionReviews on.
const Path = "/validate"

// Options configure mesh-webhook; BindFlags maps them to its flags
// (docs/webhook.md).
type Options struct {
	Kubeconfig             string
	CertDir                string
	Host                   string
	Port                   int
	HealthProbeBindAddress string
	MetricsBindAddress     string

	ConfigFile    string
	PolicyDirs    []string
	ClusterDomain string
	RootNamespace string

	// Self-managed certificates (cert-controller): when CertSecret is set,
	// the webhook creates and rotates a CA and serving certificate in that
	// Secret, writes them to CertDir and injects the CA into the
	// ValidatingWebhookConfiguration WebhookConfig.
	CertSecret       string
	CertNamespace    string
	ServiceDNSName   string
	WebhookConfig    string
	CertValidity     time.Duration
	CAValidity       time.Duration
	CertLookahead    time.Duration
	CertCheckEvery   time.Duration
	DisableLiveReads bool
	ReviewTimeout    time.Duration

	// FailurePolicy, when set, is given to the CREATE/UPDATE webhook entry
	// of WebhookConfig once mesh-webhook serves (the chart starts it as
	// Ignore).
	FailurePolicy string

	// Bounds on the cost of reviews (see Handler).
	MaxObjectBytes int64
	MaxFindings    int
	MaxConcurrent  int
	QueueWait      time.Duration
	// DecisionCacheSize bounds the policy engine's decision cache (the
	// most recently used decisions are kept); 0 turns it off.
	DecisionCacheSize int

	// The HTTPS server (see ServerOptions).
	TLSMinVersion     string
	TLSCipherSuites   string
	EnableHTTP2       bool
	ClientCAFile      string
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration

	// Live reads go through a client of their own, so they do not queue
	// behind the watches' client-side rate limit (5 QPS, burst 10).
	LiveReadQPS   float64
	LiveReadBurst int

	// Where the per-object opt-out annotation is honoured (OptOut).
	OptOutAnnotation     string
	OptOutNamespaceLabel string

	// SyncedGCPercent, when above 0, is the collector's target (as GOGC)
	// from the moment the inventory has synced; see GCPercent.
	SyncedGCPercent int
}

// BindFlags registers the options on fs with their defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "Path to a kubeconfig; in-cluster configuration when empty")
	fs.StringVar(&o.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "Directory holding tls.crt and tls.key (reloaded when they change)")
	fs.StringVar(&o.Host, "host", "", "Address to serve on (all when empty)")
	fs.IntVar(&o.Port, "port", 9443, "HTTPS port of "+Path)
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz (0 disables)")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", "Address of /metrics (0 disables)")
	fs.StringVar(&o.ConfigFile, "config", "", "Policy config file: clusterDomain, rootNamespace, per-code severities")
	fs.Func("policy", "Directory of extra Rego policies; repeatable", func(s string) error {
		o.PolicyDirs = append(o.PolicyDirs, s)
		return nil
	})
	fs.StringVar(&o.ClusterDomain, "cluster-domain", "", "Kubernetes cluster DNS domain (default cluster.local)")
	fs.StringVar(&o.RootNamespace, "root-namespace", "", "Istio root namespace (default istio-system)")
	fs.StringVar(&o.CertSecret, "cert-secret", "", "Manage a self-signed CA and serving certificate in this Secret (empty: certificates come from elsewhere)")
	fs.StringVar(&o.CertNamespace, "cert-namespace", os.Getenv("POD_NAMESPACE"), "Namespace of --cert-secret")
	fs.StringVar(&o.ServiceDNSName, "service-dns-name", "", "DNS name of the webhook Service, for the serving certificate")
	fs.StringVar(&o.WebhookConfig, "webhook-config", "mesh-webhook", "ValidatingWebhookConfiguration whose caBundle is kept current")
	fs.DurationVar(&o.CertValidity, "cert-validity", 90*24*time.Hour, "Lifetime of the self-managed serving certificate")
	fs.DurationVar(&o.CAValidity, "ca-validity", 10*365*24*time.Hour, "Lifetime of the self-managed CA; rotating it changes the caBundle")
	fs.DurationVar(&o.CertLookahead, "cert-lookahead", 30*24*time.Hour, "Rotate the self-managed certificate this long before it expires")
	fs.DurationVar(&o.CertCheckEvery, "cert-check-interval", 12*time.Hour, "How often the self-managed certificate is checked")
	fs.BoolVar(&o.DisableLiveReads, "disable-live-reads", false, "Decide on the informer cache alone, never reading references live")
	fs.DurationVar(&o.ReviewTimeout, "review-timeout", DefaultReviewTimeout, "Deadline of one review; keep it below the webhook's timeoutSeconds")
	fs.StringVar(&o.FailurePolicy, "failure-policy", "", "Fail or Ignore: set on the "+WebhookName+" entry of --webhook-config once serving (empty: leave it)")
	fs.Int64Var(&o.MaxObjectBytes, "max-object-bytes", DefaultMaxObjectBytes, "Refuse to review (deny) created or updated objects larger than this")
	fs.IntVar(&o.MaxFindings, "max-findings", DefaultMaxFindings, "Findings reported per object, errors first; evaluation stops early once this many errors are found")
	fs.IntVar(&o.MaxConcurrent, "max-concurrent-reviews", 0, "Reviews in progress at once (0: twice GOMAXPROCS); more wait --queue-wait, then get a busy answer")
	fs.DurationVar(&o.QueueWait, "queue-wait", DefaultQueueWait, "How long a review waits for a free slot before the busy answer")
	fs.IntVar(&o.DecisionCacheSize, "decision-cache-size", DefaultDecisionCacheSize, "Policy decisions kept, most recently used first, for objects of shapes already decided (0: decide every object anew)")
	fs.StringVar(&o.TLSMinVersion, "tls-min-version", "1.2", "Minimum TLS version: 1.2 or 1.3")
	fs.StringVar(&o.TLSCipherSuites, "tls-cipher-suites", "", "Comma-separated TLS 1.2 cipher suites (Go names); empty: ECDHE with AES-GCM or ChaCha20, no CBC")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false, "Offer HTTP/2 (off: HTTP/2 rapid reset, CVE-2023-44487)")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", "", "Require a client certificate signed by this CA (the API server's; docs/webhook.md)")
	fs.DurationVar(&o.ReadHeaderTimeout, "read-header-timeout", DefaultReadHeaderTimeout, "Deadline for a request's headers")
	fs.DurationVar(&o.ReadTimeout, "read-timeout", DefaultReadTimeout, "Deadline for a whole request, body included")
	fs.Float64Var(&o.LiveReadQPS, "live-read-qps", 50, "Client-side rate limit of live reads (queries per second), apart from the watches'")
	fs.IntVar(&o.LiveReadBurst, "live-read-burst", 100, "Burst of live reads")
	fs.StringVar(&o.OptOutAnnotation, "opt-out-annotation", OptOutAllowed, "Where the annotation "+BreakGlassAnnotation+"="+breakGlassValue+" is honoured: allowed, off, labelled-namespaces")
	fs.StringVar(&o.OptOutNamespaceLabel, "opt-out-namespace-label", "", "With --opt-out-annotation=labelled-namespaces: the namespace label (key=value or key) that allows it")
}

// serverOptions turns the flags into ServerOptions.
func (o *Options) serverOptions() (ServerOptions, error) {
	so := ServerOptions{Host: o.Host, Port: o.Port, CertDir: o.CertDir, ClientCAFile: o.ClientCAFile, EnableHTTP2: o.EnableHTTP2,
		ReadHeaderTimeout: o.ReadHeaderTimeout, ReadTimeout: o.ReadTimeout}
	var errs []error
	if o.TLSMinVersion != "" {
		v, err := ParseTLSVersion(o.TLSMinVersion)
		errs = append(errs, err)
		so.MinVersion = v
	}
	if o.TLSCipherSuites != "" {
		cs, err := ParseCipherSuites(o.TLSCipherSuites)
		errs = append(errs, err)
		so.CipherSuites = cs
	}
	return so, errors.Join(errs...)
}

// Validate checks the options.
func (o *Options) Validate() error {
	var errs []error
	if o.Port <= 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d is not a port", o.Port))
	}
	if o.CertSecret != "" && (o.CertNamespace == "" || o.ServiceDNSName == "") {
		errs = append(errs, errors.New("--cert-secret needs --cert-namespace (or POD_NAMESPACE) and --service-dns-name"))
	}
	if o.ReviewTimeout <= 0 {
		errs = append(errs, errors.New("--review-timeout must be positive"))
	}
	switch admissionregistrationv1.FailurePolicyType(o.FailurePolicy) {
	case "", admissionregistrationv1.Fail, admissionregistrationv1.Ignore:
	default:
		errs = append(errs, fmt.Errorf("--failure-policy %q is not Fail or Ignore", o.FailurePolicy))
	}
	switch o.OptOutAnnotation {
	case OptOutAllowed, OptOutOff:
	case OptOutLabelled:
		if o.OptOutNamespaceLabel == "" {
			errs = append(errs, errors.New("--opt-out-annotation=labelled-namespaces needs --opt-out-namespace-label"))
		}
	default:
		errs = append(errs, fmt.Errorf("--opt-out-annotation %q is not allowed, off or labelled-namespaces", o.OptOutAnnotation))
	}
	if o.MaxObjectBytes <= 0 || o.MaxFindings <= 0 || o.MaxConcurrent < 0 || o.QueueWait < 0 || o.DecisionCacheSize < 0 {
		errs = append(errs, errors.New("--max-object-bytes and --max-findings must be positive, --max-concurrent-reviews, --queue-wait and --decision-cache-size not negative"))
	}
	if o.LiveReadQPS <= 0 || o.LiveReadBurst <= 0 {
		errs = append(errs, errors.New("--live-read-qps and --live-read-burst must be positive"))
	}
	if _, err := o.serverOptions(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (o *Options) restConfig() (*rest.Config, error) {
	if o.Kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	}
	return rest.InClusterConfig()
}

// Settings reads the policy settings: the config file, then the flags.
func (o *Options) Settings() (policies.Settings, error) {
	var s policies.Settings
	if o.ConfigFile != "" {
		var err error
		if s, err = policies.LoadConfig(o.ConfigFile); err != nil {
			return s, err
		}
	}
	return s.Merge(policies.Settings{ClusterDomain: o.ClusterDomain, RootNamespace: o.RootNamespace}), nil
}

// ensureSecret creates the empty Secret the certificate rotator fills in;
// the rotator only updates an existing one.
func ensureSecret(ctx context.Context, cfg *rest.Config, namespace, name string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = cs.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "mesh-webhook"}},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("preparing certificate secret %s/%s: %w", namespace, name, err)
	}
	return nil
}

// GCPercent is the collector's target mesh-webhook switches to once its
// inventory has synced, unless GOGC is set. Its heap is then mostly the
// inventory, which lives as long as the process, while each review
// leaves about 37 KB of garbage: at Go's default of 100 a cycle re-marks
// the whole inventory after every inventory's worth of reviews, and those
// cycles were the slowest reviews (BenchmarkHandler, 2 cores saturated:
// p99 1.0 to 1.4 ms at 100, 0.65 to 0.78 ms at 200). During the initial
// lists the default stays: the heap is growing then, and at 200 the
// process peaked at 205 MiB instead of 169 MiB with a 10,000-Service
// inventory. GOMEMLIMIT, which the chart sets from the container's memory
// limit, still bounds the heap.
const GCPercent = 200

// setGCPercentOnceSynced sets the collector's target to percent once
// synced reports true, unless ctx ends first.
func setGCPercentOnceSynced(ctx context.Context, synced func() bool, percent int) {
	if cache.WaitForCacheSync(ctx.Done(), synced) {
		debug.SetGCPercent(percent)
	}
}

// clients makes the dynamic and the typed client of one configuration.
func clients(cfg *rest.Config) (dynamic.Interface, kubernetes.Interface, error) {
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("creating a dynamic client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("creating a client: %w", err)
	}
	return d, cs, nil
}

// Run serves until ctx ends. It is ready (readyz) only when the inventory
// caches have synced and the serving certificate is in place.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := ctrl.Log.WithName("mesh-webhook")
	settings, err := o.Settings()
	if err != nil {
		return err
	}
	engine, err := policies.NewEngine(ctx, policies.Options{Settings: settings, PolicyDirs: o.PolicyDirs,
		DecisionCacheSize: o.DecisionCacheSize, NoDecisionCache: o.DecisionCacheSize == 0})
	if err != nil {
		return err
	}
	cfg, err := o.restConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	istioVersion, err := IstioVersion(disc)
	if err != nil {
		return err
	}
	client, cs, err := clients(cfg)
	if err != nil {
		return err
	}
	// Live reads happen on a cache miss, often many at once (kubectl apply
	// -f dir/): with the watches' client they shared 5 QPS and fell back
	// to the cache.
	liveCfg := rest.CopyConfig(cfg)
	liveCfg.QPS, liveCfg.Burst = float32(o.LiveReadQPS), o.LiveReadBurst
	liveDynamic, liveCS, err := clients(liveCfg)
	if err != nil {
		return err
	}
	so, err := o.serverOptions()
	if err != nil {
		return err
	}
	srv := NewServer(so)
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Metrics:                metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress: o.HealthProbeBindAddress,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	gatewayAPI, err := GatewayAPIResources(disc)
	if err != nil {
		return err
	}
	inv := NewClusterInventory(client, istioVersion, engine.Settings().ClusterDomain, gatewayAPI...)
	if err := mgr.Add(manager.RunnableFunc(inv.Start)); err != nil {
		return err
	}
	namespaces := NewClusterNamespaces(cs, liveCS)
	if err := mgr.Add(manager.RunnableFunc(namespaces.Start)); err != nil {
		return err
	}
	synced := func() bool { return inv.HasSynced() && namespaces.HasSynced() }
	m, err := NewMetrics(metrics.Registry)
	if err != nil {
		return err
	}
	if o.SyncedGCPercent > 0 {
		go setGCPercentOnceSynced(ctx, inv.HasSynced, o.SyncedGCPercent)
	}
	h := &Handler{Engine: engine, Inventory: inv, Namespaces: namespaces, Metrics: m, Log: log, Timeout: o.ReviewTimeout, Ready: synced,
		MaxObjectBytes: o.MaxObjectBytes, MaxFindings: o.MaxFindings, MaxConcurrent: o.MaxConcurrent, QueueWait: o.QueueWait,
		BusyAdmits: o.FailurePolicy == string(admissionregistrationv1.Ignore),
		OptOut:     OptOut{Mode: o.OptOutAnnotation, NamespaceLabel: o.OptOutNamespaceLabel}}
	if !o.DisableLiveReads {
		h.Live = &APIReader{Client: liveDynamic, IstioVersion: istioVersion, ClusterDomain: engine.Settings().ClusterDomain, RootNamespace: engine.Settings().RootNamespace, GatewayAPI: gatewayAPI}
	}
	certsReady := make(chan struct{})
	if o.CertSecret != "" {
		if err := ensureSecret(ctx, cfg, o.CertNamespace, o.CertSecret); err != nil {
			return err
		}
		if err := mgr.Add(&certSync{client: cs, namespace: o.CertNamespace, name: o.CertSecret, dir: o.CertDir, log: log.WithName("certs")}); err != nil {
			return err
		}
		err = rotator.AddRotator(mgr, &rotator.CertRotator{
			SecretKey:              types.NamespacedName{Namespace: o.CertNamespace, Name: o.CertSecret},
			CertDir:                o.CertDir,
			CAName:                 "kubectl-mesh-webhook-ca",
			CAOrganization:         "kubectl-mesh",
			DNSName:                o.ServiceDNSName,
			IsReady:                certsReady,
			Webhooks:               []rotator.WebhookInfo{{Name: o.WebhookConfig, Type: rotator.Validating}},
			FieldOwner:             "mesh-webhook",
			ServerCertDuration:     o.CertValidity,
			CaCertDuration:         o.CAValidity,
			LookaheadInterval:      o.CertLookahead,
			RotationCheckFrequency: o.CertCheckEvery,
		})
		if err != nil {
			return fmt.Errorf("setting up certificate rotation: %w", err)
		}
	} else {
		close(certsReady)
	}
	// The server starts only once certificates exist (self-managed ones
	// are written after the manager starts), so it never answers with a
	// certificate it does not have.
	srv.Register(Path, h)
	go func() {
		select {
		case <-certsReady:
			if err := mgr.Add(srv); err != nil {
				log.Error(err, "starting the webhook server")
			}
		case <-ctx.Done():
		}
	}()
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", func(*http.Request) error {
		select {
		case <-certsReady:
		default:
			return errors.New("serving certificate not ready")
		}
		if !synced() {
			return errors.New("inventory caches not synced")
		}
		return srv.StartedChecker()(nil)
	}); err != nil {
		return err
	}
	if o.FailurePolicy != "" {
		serving := func() bool {
			select {
			case <-certsReady:
			default:
				return false
			}
			return synced() && srv.StartedChecker()(nil) == nil
		}
		if err := mgr.Add(&failurePolicySwitch{client: cs, config: o.WebhookConfig, webhook: WebhookName,
			policy: admissionregistrationv1.FailurePolicyType(o.FailurePolicy), ready: serving, every: 2 * time.Second, log: log.WithName("failure-policy")}); err != nil {
			return err
		}
	}
	log.Info("starting", "port", o.Port, "istio", policies.IstioNetworkingGroup+"/"+istioVersion, "policies", strings.Join(engine.Packages(), ","))
	return mgr.Start(ctx)
}

// DefaultMemoryLimitPercent of the container's memory limit is the Go
// runtime's soft limit (GOMEMLIMIT) unless GOMEMLIMIT is set: the
// collector works harder as the heap nears it, and the rest is headroom
// for what the runtime does not count.
const DefaultMemoryLimitPercent = 85

// SoftMemoryLimit returns percent (DefaultMemoryLimitPercent when empty)
// of a container memory limit given in bytes, as the downward API's
// resourceFieldRef writes it; 0 when there is no limit.
func SoftMemoryLimit(limitBytes, percent string) (int64, error) {
	if limitBytes == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(limitBytes, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("MEMORY_LIMIT %q is not a number of bytes", limitBytes)
	}
	p := DefaultMemoryLimitPercent
	if percent != "" {
		if p, err = strconv.Atoi(percent); err != nil || p < 0 || p > 100 {
			return 0, fmt.Errorf("MEMORY_LIMIT_PERCENT %q is not a percentage", percent)
		}
	}
	return n / 100 * int64(p), nil
}
