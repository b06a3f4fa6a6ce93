// Command localwebhook runs mesh-webhook on loopback against a cluster
// whose pods cannot run it (the simulated cluster of `make demo`): it
// makes a serving certificate, starts the binary, registers a
// ValidatingWebhookConfiguration that calls it by URL, prints "ready", and
// on SIGINT or SIGTERM removes the registration and stops the webhook.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-mesh/kubectl-mesh/test/harness"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	bin := flag.String("webhook", "bin/mesh-webhook", "mesh-webhook binary")
	dir := flag.String("dir", "", "directory for the certificate and the log")
	name := flag.String("name", "mesh-webhook-local", "name of the ValidatingWebhookConfiguration")
	flag.Parse()
	if err := run(*kubeconfig, *bin, *dir, *name); err != nil {
		fmt.Fprintln(os.Stderr, "localwebhook:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, bin, dir, name string) error {
	if dir == "" {
		return fmt.Errorf("-dir is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ca, err := harness.ServingCert(dir)
	if err != nil {
		return err
	}
	port, err := harness.FreePort()
	if err != nil {
		return err
	}
	health, err := harness.FreePort()
	if err != nil {
		return err
	}
	logFile, err := os.Create(dir + "/mesh-webhook.log")
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--cert-dir", dir, "--host", "127.0.0.1",
		"--port", fmt.Sprint(port), "--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", health),
		"--metrics-bind-address", "0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	if err := waitReady(ctx, health); err != nil {
		return fmt.Errorf("%w (log: %s)", err, logFile.Name())
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	api := client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	vwc, err := harness.WebhookConfiguration(name, fmt.Sprintf("https://127.0.0.1:%d/validate", port), ca, admissionregistrationv1.Fail)
	if err != nil {
		return err
	}
	_ = api.Delete(ctx, name, metav1.DeleteOptions{})
	if _, err := api.Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("registering the webhook: %w", err)
	}
	defer func() {
		// Bounded: when the cluster is going away too, this must not hang.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = api.Delete(ctx, name, metav1.DeleteOptions{})
	}()
	fmt.Printf("ready: mesh-webhook on https://127.0.0.1:%d/validate, ValidatingWebhookConfiguration %s\n", port, name)
	<-ctx.Done()
	return nil
}

// waitReady polls /readyz, which turns 200 once the inventory has synced.
func waitReady(ctx context.Context, port int) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("mesh-webhook was not ready within 60s")
}
