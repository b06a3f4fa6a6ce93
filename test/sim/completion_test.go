package sim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Shell completion of `kubectl mesh ...` the way a user's shell gets it:
// real kubectl asks the kubectl_complete-mesh helper of the release
// archives, which asks kubectl-mesh, which reads the cluster of KUBECONFIG.
func TestCompletionThroughKubectl(t *testing.T) {
	c := needSim(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	prefix := fmt.Sprintf("complete-%d-", time.Now().UnixNano()%1_000_000)
	want := []string{prefix + "alpha", prefix + "beta"}
	for _, name := range want {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := c.clients.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = c.clients.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}

	helperDir := t.TempDir()
	helper, err := os.ReadFile(filepath.Join(c.root, "hack", "dist", "kubectl_complete-mesh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(helperDir, "kubectl_complete-mesh"), helper, 0o755); err != nil {
		t.Fatal(err)
	}
	complete := func(args ...string) []string {
		t.Helper()
		cmd := exec.CommandContext(ctx, c.kubectl, append([]string{"__complete", "mesh"}, args...)...)
		cmd.Env = append(os.Environ(),
			"KUBECONFIG="+c.kubeconfig,
			"PATH="+strings.Join([]string{helperDir, filepath.Dir(c.pluginBin), os.Getenv("PATH")}, string(os.PathListSeparator)))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl __complete mesh %q: %v\n%s", args, err, &errOut)
		}
		var choices []string
		for _, line := range strings.Split(out.String(), "\n") {
			if line != "" && !strings.HasPrefix(line, ":") {
				name, _, _ := strings.Cut(line, "\t")
				choices = append(choices, name)
			}
		}
		return choices
	}

	if got := complete("inject", "enable", prefix); !slices.Equal(got, want) {
		t.Errorf("inject enable %s<TAB>: %q, want %q", prefix, got, want)
	}
	if got := complete("version", "-n", prefix+"b"); !slices.Equal(got, want[1:]) {
		t.Errorf("-n %sb<TAB>: %q, want %q", prefix, got, want[1:])
	}
	if got := complete("inj"); !slices.Equal(got, []string{"inject"}) {
		t.Errorf("inj<TAB>: %q", got)
	}

	// Services and a DestinationRule's subsets, for canary and resilience.
	c.ensureIstioCRDs(t)
	ns := want[0]
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	if _, err := c.clients.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dr := fmt.Sprintf(`{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"web","namespace":%q},"spec":{"host":"web","subsets":[{"name":"v1","labels":{"version":"v1"}},{"name":"v2","labels":{"version":"v2"}}]}}`, ns)
	if _, stderr, err := c.run(t, dr, c.kubectl, "apply", "-f", "-"); err != nil {
		t.Fatalf("applying a DestinationRule: %v\n%s", err, stderr)
	}
	if got := complete("canary", "step", "-n", ns, "w"); !slices.Equal(got, []string{"web"}) {
		t.Errorf("canary step -n %s w<TAB>: %q, want [web]", ns, got)
	}
	if got := complete("canary", "promote", "web", "-n", ns, "--to", ""); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Errorf("canary promote web --to <TAB>: %q, want [v1 v2]", got)
	}
	if got := complete("resilience", "timeout", "-n", ns, ""); !slices.Contains(got, "web") {
		t.Errorf("resilience timeout <TAB>: %q, want web among them", got)
	}
}
