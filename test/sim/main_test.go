// Package sim runs kubectl-mesh against the simulated cluster of hack/sim.sh:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on
// loopback, where Deployments roll out with no container runtime.
// `make test` sets MESH_SIM=1; without it the tests are skipped.
package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// simCluster is the one simulated cluster the tests of this package share.
type simCluster struct {
	root       string
	dir        string
	kubeconfig string
	kubectl    string
	pluginBin  string
	config     *rest.Config
	clients    *kubernetes.Clientset
	dynamic    dynamic.Interface
	env        []string
}

var shared *simCluster

func TestMain(m *testing.M) {
	if os.Getenv("MESH_SIM") != "1" {
		fmt.Println("sim: MESH_SIM is not set (make test sets it); skipping")
		os.Exit(m.Run())
	}
	c, err := startSim()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
	shared = c
	code := m.Run()
	c.stop()
	os.Exit(code)
}

func needSim(t testing.TB) *simCluster {
	t.Helper()
	if shared == nil {
		t.Skip("no simulated cluster: run make test")
	}
	return shared
}

// freePorts reserves n distinct loopback ports by holding them all open at
// once, then releases them for the cluster's processes to bind.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserving a loopback port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

var errPortTaken = errors.New("a port was taken before the cluster bound it")

func startSim() (*simCluster, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kubectl-mesh-sim-")
	if err != nil {
		return nil, err
	}
	c := &simCluster{root: root, dir: dir, pluginBin: filepath.Join(dir, "kubectl-mesh")}
	build := exec.Command("go", "build", "-o", c.pluginBin, "./cmd/kubectl-mesh")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building kubectl-mesh: %v\n%s", err, out)
	}
	tools, err := exec.Command(filepath.Join(root, "hack", "build-tools.sh"), "--sim").Output()
	if err != nil {
		return nil, fmt.Errorf("hack/build-tools.sh --sim: %w", err)
	}
	c.kubectl = filepath.Join(strings.TrimSpace(string(tools)), "kubectl")
	// Ephemeral ports can be taken between reservation and bind by another
	// process's outgoing connection; a fresh set of ports gets past that.
	for attempt := 1; ; attempt++ {
		err = c.up()
		if err == nil || !errors.Is(err, errPortTaken) || attempt == 3 {
			break
		}
		fmt.Fprintf(os.Stderr, "sim: %v; retrying with other ports\n", err)
	}
	if err != nil {
		return nil, err
	}
	if c.config, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig); err != nil {
		return nil, err
	}
	if c.clients, err = kubernetes.NewForConfig(c.config); err != nil {
		return nil, err
	}
	if c.dynamic, err = dynamic.NewForConfig(c.config); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *simCluster) up() error {
	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	simDir := filepath.Join(c.dir, "cluster")
	c.env = append(os.Environ(), "SIM_DIR="+simDir)
	for i, name := range []string{"SIM_ETCD_PORT", "SIM_ETCD_PEER_PORT", "SIM_API_PORT", "SIM_KCM_PORT", "SIM_SCHED_PORT", "SIM_KWOK_PORT"} {
		c.env = append(c.env, name+"="+strconv.Itoa(ports[i]))
	}
	out, err := c.sim("up")
	if err != nil {
		logs, _ := exec.Command("sh", "-c", "tail -n 20 "+simDir+"/logs/*.log").CombinedOutput()
		c.sim("down") //nolint:errcheck // best effort before a retry
		if bytes.Contains(logs, []byte("address already in use")) {
			return fmt.Errorf("%w: %s", errPortTaken, firstLine(logs, "address already in use"))
		}
		return fmt.Errorf("hack/sim.sh up: %v\n%s\n%s", err, out, logs)
	}
	trimmed := strings.TrimSpace(out)
	c.kubeconfig = strings.TrimSpace(trimmed[strings.LastIndex(trimmed, "\n")+1:])
	return nil
}

func firstLine(text []byte, containing string) string {
	for line := range strings.SplitSeq(string(text), "\n") {
		if strings.Contains(line, containing) {
			return line
		}
	}
	return ""
}

func (c *simCluster) sim(verb string) (string, error) {
	cmd := exec.Command(filepath.Join(c.root, "hack", "sim.sh"), verb)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *simCluster) stop() {
	if out, err := c.sim("down"); err != nil {
		fmt.Fprintf(os.Stderr, "sim: hack/sim.sh down: %v\n%s", err, out)
	}
	_ = os.RemoveAll(c.dir)
}

// run runs a binary with the cluster's kubeconfig and returns stdout,
// stderr and the error.
func (c *simCluster) run(t testing.TB, stdin, bin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// mesh runs `kubectl mesh ARGS` through the real kubectl's plugin discovery.
func (c *simCluster) mesh(t testing.TB, args ...string) (string, string, error) {
	t.Helper()
	return c.meshEnv(t, os.Environ(), args...)
}

// meshEnv is mesh in the environment env.
func (c *simCluster) meshEnv(t testing.TB, env []string, args ...string) (string, string, error) {
	t.Helper()
	// kubectl takes no flags before a plugin's name: the kubeconfig goes
	// through the environment, as users' does.
	cmd := exec.Command(c.kubectl, append([]string{"mesh"}, args...)...)
	cmd.Env = append(env, "KUBECONFIG="+c.kubeconfig,
		"PATH="+filepath.Dir(c.pluginBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// ensureIstioCRDs server-side applies Istio's CRDs from the istio.io/api
// module (an Istio install test may have purged them) and waits until
// they are served.
func (c *simCluster) ensureIstioCRDs(t testing.TB) {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "istio.io/api@v1.32.0").Output()
	if err != nil {
		t.Fatalf("go mod download istio.io/api: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download istio.io/api: no module directory in %s", out)
	}
	crds := filepath.Join(mod.Dir, "kubernetes", "customresourcedefinitions.gen.yaml")
	if _, stderr, err := c.run(t, "", c.kubectl, "apply", "--server-side", "--force-conflicts", "-f", crds); err != nil {
		t.Fatalf("applying Istio's CRDs: %v\n%s", err, stderr)
	}
	if _, stderr, err := c.run(t, "", c.kubectl, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/virtualservices.networking.istio.io", "crd/destinationrules.networking.istio.io",
		"crd/gateways.networking.istio.io", "crd/serviceentries.networking.istio.io"); err != nil {
		t.Fatalf("waiting for Istio's CRDs: %v\n%s", err, stderr)
	}
}

// namespace creates a namespace for one test and deletes it afterwards.
func (c *simCluster) namespace(t testing.TB, name string) string {
	t.Helper()
	if _, stderr, err := c.run(t, "", c.kubectl, "create", "namespace", name); err != nil {
		t.Fatalf("creating namespace %s: %v\n%s", name, err, stderr)
	}
	t.Cleanup(func() {
		c.run(t, "", c.kubectl, "delete", "namespace", name, "--wait=false") //nolint:errcheck // best effort
	})
	return name
}

// exitCode is a command's exit status: -1 when it did not run.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
