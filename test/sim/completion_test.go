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
}
