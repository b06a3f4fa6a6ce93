package plugin

import (
	"testing"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// The REST config every command's clients come from honours kubectl's
// flags and KUBECONFIG, as kubectl does.
func TestRESTConfigFromKubectlFlags(t *testing.T) {
	config := testKubeconfig(t)
	for _, tc := range []struct {
		name       string
		kubeconfig string // KUBECONFIG
		args       []string
		host       string
		timeout    time.Duration
		token      string
	}{
		{"current context", "", []string{"--kubeconfig", config}, "https://127.0.0.1:6443", 0, "dev"},
		{"--request-timeout in seconds", "", []string{"--kubeconfig", config, "--request-timeout", "7"}, "https://127.0.0.1:6443", 7 * time.Second, "dev"},
		{"--request-timeout as a duration", "", []string{"--kubeconfig", config, "--request-timeout=1m30s"}, "https://127.0.0.1:6443", 90 * time.Second, "dev"},
		{"--context", "", []string{"--kubeconfig", config, "--context", "prod"}, "https://127.0.0.2:6443", 0, "prod"},
		{"KUBECONFIG", config, []string{"--context=prod", "--request-timeout=2s"}, "https://127.0.0.2:6443", 2 * time.Second, "prod"},
		{"--server and --token over the context", config, []string{"--server", "https://127.0.0.3:6443", "--token", "other"}, "https://127.0.0.3:6443", 0, "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.kubeconfig)
			flags := genericclioptions.NewConfigFlags(true)
			fs := (&cobra.Command{}).Flags()
			flags.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := flags.ToRESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tc.host || cfg.Timeout != tc.timeout || cfg.BearerToken != tc.token {
				t.Errorf("host %s, timeout %v, token %q; want %s, %v, %q", cfg.Host, cfg.Timeout, cfg.BearerToken, tc.host, tc.timeout, tc.token)
			}
			if _, _, err := clientsFor(flags)(); err != nil {
				t.Errorf("clients: %v", err)
			}
		})
	}
}

// A --request-timeout that is not a duration is refused before any call.
func TestBadRequestTimeout(t *testing.T) {
	flags := genericclioptions.NewConfigFlags(true)
	fs := (&cobra.Command{}).Flags()
	flags.AddFlags(fs)
	if err := fs.Parse([]string{"--kubeconfig", testKubeconfig(t), "--request-timeout", "soon"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := clientsFor(flags)(); err == nil {
		t.Error("--request-timeout=soon accepted")
	}
}
