package webhook

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
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
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// Path is the one path mesh-webhook serves AdmissionReviews on.
const Path = "/validate"

// Options configure mesh-webhook; BindFlags maps them to the flags of
// shared/DESIGN.md.
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
	engine, err := policies.NewEngine(ctx, policies.Options{Settings: settings, PolicyDirs: o.PolicyDirs})
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
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Metrics:                metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress: o.HealthProbeBindAddress,
		WebhookServer:          crwebhook.NewServer(crwebhook.Options{Host: o.Host, Port: o.Port, CertDir: o.CertDir}),
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	inv := NewClusterInventory(client, istioVersion, engine.Settings().ClusterDomain)
	if err := mgr.Add(manager.RunnableFunc(inv.Start)); err != nil {
		return err
	}
	m, err := NewMetrics(metrics.Registry)
	if err != nil {
		return err
	}
	if o.SyncedGCPercent > 0 {
		go setGCPercentOnceSynced(ctx, inv.HasSynced, o.SyncedGCPercent)
	}
	h := &Handler{Engine: engine, Inventory: inv, Metrics: m, Log: log, Timeout: o.ReviewTimeout, Ready: inv.HasSynced}
	if !o.DisableLiveReads {
		h.Live = &APIReader{Client: client, IstioVersion: istioVersion, ClusterDomain: engine.Settings().ClusterDomain, RootNamespace: engine.Settings().RootNamespace}
	}
	certsReady := make(chan struct{})
	if o.CertSecret != "" {
		if err := ensureSecret(ctx, cfg, o.CertNamespace, o.CertSecret); err != nil {
			return err
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
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
	// The handler is registered only once certificates exist, so the
	// server never answers with a certificate it does not have.
	go func() {
		select {
		case <-certsReady:
			mgr.GetWebhookServer().Register(Path, h)
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
		if !inv.HasSynced() {
			return errors.New("inventory caches not synced")
		}
		return mgr.GetWebhookServer().StartedChecker()(nil)
	}); err != nil {
		return err
	}
	log.Info("starting", "port", o.Port, "istio", policies.IstioNetworkingGroup+"/"+istioVersion, "policies", strings.Join(engine.Packages(), ","))
	return mgr.Start(ctx)
}
