package plugin

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

func injectFixture(nsLabels map[string]string, sidecar bool) *fake.Clientset {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web"}}},
	}
	if sidecar {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "istio-proxy"})
	}
	return fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: nsLabels}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		},
		pod,
	)
}

// inject runs the options as the command does, on a fake client.
func inject(t *testing.T, client kubernetes.Interface, o InjectOptions, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.IOStreams = genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}
	if o.DryRun == "" {
		o.DryRun = "none"
	}
	o.env = &commandEnv{
		flags:      genericclioptions.NewConfigFlags(false),
		newClients: func() (kubernetes.Interface, dynamic.Interface, error) { return client, nil, nil },
		now:        func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) },
	}
	if err := o.Complete(nil, args); err != nil {
		return "", "", err
	}
	if err := o.Validate(); err != nil {
		return "", "", err
	}
	err := o.Run(context.Background())
	return out.String(), errOut.String(), err
}

func nsLabels(t *testing.T, c kubernetes.Interface) map[string]string {
	t.Helper()
	ns, err := c.CoreV1().Namespaces().Get(context.Background(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Labels
}

func restarted(t *testing.T, c kubernetes.Interface) string {
	t.Helper()
	d, err := c.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Annotations[restartedAt]
}

func TestInject(t *testing.T) {
	t.Run("enable labels and warns about pods without the sidecar", func(t *testing.T) {
		c := injectFixture(nil, false)
		out, errOut, err := inject(t, c, InjectOptions{}, "enable", "shop")
		if err != nil || nsLabels(t, c)[injectionLabel] != "enabled" {
			t.Fatalf("err %v, labels %v", err, nsLabels(t, c))
		}
		if !strings.Contains(out, "namespace/shop: sidecar injection enabled") || !strings.Contains(errOut, "deployment/web has pods without the istio-proxy sidecar") || restarted(t, c) != "" {
			t.Errorf("out %q, stderr %q", out, errOut)
		}
	})
	t.Run("enable --restart restarts the Deployment", func(t *testing.T) {
		c := injectFixture(nil, false)
		out, _, err := inject(t, c, InjectOptions{Restart: true}, "enable", "shop")
		if err != nil || restarted(t, c) != "2026-11-25T12:00:00Z" || !strings.Contains(out, "deployment/web restarted") {
			t.Fatalf("err %v, out %q, restartedAt %q", err, out, restarted(t, c))
		}
	})
	t.Run("pods that already have the sidecar are left alone", func(t *testing.T) {
		c := injectFixture(nil, true)
		_, errOut, err := inject(t, c, InjectOptions{Restart: true}, "enable", "shop")
		if err != nil || errOut != "" || restarted(t, c) != "" {
			t.Fatalf("err %v, stderr %q, restartedAt %q", err, errOut, restarted(t, c))
		}
	})
	t.Run("revision replaces istio-injection", func(t *testing.T) {
		c := injectFixture(map[string]string{injectionLabel: "enabled", "team": "shop"}, true)
		if _, _, err := inject(t, c, InjectOptions{Revision: "1-24"}, "enable", "shop"); err != nil {
			t.Fatal(err)
		}
		l := nsLabels(t, c)
		if l[revisionLabel] != "1-24" || l[injectionLabel] != "" || l["team"] != "shop" {
			t.Fatalf("labels %v", l)
		}
	})
	t.Run("disable removes the labels and finds pods with the sidecar", func(t *testing.T) {
		c := injectFixture(map[string]string{injectionLabel: "enabled"}, true)
		_, errOut, err := inject(t, c, InjectOptions{}, "disable", "shop")
		if err != nil || nsLabels(t, c)[injectionLabel] != "" || !strings.Contains(errOut, "has pods with the istio-proxy sidecar") {
			t.Fatalf("err %v, labels %v, stderr %q", err, nsLabels(t, c), errOut)
		}
	})
	t.Run("dry run client prints and changes nothing", func(t *testing.T) {
		c := injectFixture(nil, false)
		out, _, err := inject(t, c, InjectOptions{DryRun: "client", Output: "yaml", Restart: true}, "enable", "shop")
		if err != nil || !strings.Contains(out, "kind: Namespace") || !strings.Contains(out, "istio-injection: enabled") {
			t.Fatalf("err %v, out %q", err, out)
		}
		if nsLabels(t, c)[injectionLabel] != "" || restarted(t, c) != "" {
			t.Fatal("a client dry run changed the cluster")
		}
	})
	t.Run("-o prints the namespace and still restarts, reporting on stderr", func(t *testing.T) {
		c := injectFixture(nil, false)
		out, errOut, err := inject(t, c, InjectOptions{Output: "yaml", Restart: true}, "enable", "shop")
		if err != nil || !strings.HasPrefix(out, "apiVersion: v1\n") || strings.Contains(out, "restarted") {
			t.Fatalf("err %v, out %q", err, out)
		}
		if restarted(t, c) == "" || !strings.Contains(errOut, "deployment/web restarted") {
			t.Fatalf("not restarted: stderr %q", errOut)
		}
	})
	t.Run("-o without --restart still names the Deployments to restart", func(t *testing.T) {
		_, errOut, err := inject(t, injectFixture(nil, false), InjectOptions{Output: "json"}, "enable", "shop")
		if err != nil || !strings.Contains(errOut, "deployment/web has pods without the istio-proxy sidecar") {
			t.Fatalf("err %v, stderr %q", err, errOut)
		}
	})
	t.Run("bad usage", func(t *testing.T) {
		for _, tc := range []struct {
			o    InjectOptions
			args []string
		}{
			{InjectOptions{}, []string{"toggle", "shop"}},
			{InjectOptions{DryRun: "maybe"}, []string{"enable", "shop"}},
			{InjectOptions{Revision: "1-24"}, []string{"disable", "shop"}},
			{InjectOptions{Output: "table"}, []string{"enable", "shop"}},
		} {
			if _, _, err := inject(t, injectFixture(nil, false), tc.o, tc.args...); ExitCode(err) != ExitUsage {
				t.Errorf("%v %+v: exit %d (%v), want 2", tc.args, tc.o, ExitCode(err), err)
			}
		}
	})
	t.Run("a missing namespace fails", func(t *testing.T) {
		if _, _, err := inject(t, fake.NewClientset(), InjectOptions{}, "enable", "nowhere"); ExitCode(err) != ExitFailed || !strings.Contains(err.Error(), "nowhere") {
			t.Fatalf("err %v", err)
		}
	})
}
