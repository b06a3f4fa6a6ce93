#!/usr/bin/env bash
# make demo: the hand-made Istio workflow (kubectl and YAML), replaced
# step by step by kubectl mesh, on a simulated cluster of its own (pods
# report Running and Ready; no container runs, so no request reaches a pod:
# see docs/simulated-cluster.md). Everything is built from Go modules on
# the first run and cached under .cache/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEMO_DIR=${DEMO_DIR:-$ROOT/.cache/demo}
# Ports of its own, so a cluster from `make sim-up` is left alone.
export SIM_DIR=$DEMO_DIR/cluster SIM_ETCD_PORT=24790 SIM_ETCD_PEER_PORT=24800 SIM_API_PORT=27443 \
  SIM_KCM_PORT=27257 SIM_SCHED_PORT=27259 SIM_KWOK_PORT=27247

bold=; plain=
if [ -t 1 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); fi
step() { printf '\n%s== %s%s  (at %ss)\n' "$bold" "$*" "$plain" "$SECONDS"; }
# shown prints a command as it is typed: what the shell would expand is quoted.
shown() {
  local line= a
  for a in "$@"; do
    case $a in *[\ \*\?\"\{\}\$]*) a="'$a'" ;; esac
    line+=" $a"
  done
  printf '$%s\n' "$line"
}
run() { shown "$@"; "$@"; }
# expect_fail CODE CMD... runs a command that must fail with exit status
# CODE (1: the check or action failed, 2: bad usage or input).
expect_fail() {
  local want=$1; shift
  shown "$@"
  local rc=0; "$@" || rc=$?
  if [ "$rc" -ne "$want" ]; then echo "demo: expected exit status $want, got $rc" >&2; exit 1; fi
  echo "(exit status $rc, as expected)"
}

webhook_pid=
cleanup() {
  [ -n "$webhook_pid" ] && kill "$webhook_pid" 2>/dev/null && wait "$webhook_pid" 2>/dev/null || true
  hack/sim.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "Build kubectl-mesh, mesh-webhook and the simulated cluster's parts"
make --no-print-directory build >/dev/null
go build -o bin/mesh-webhook ./cmd/mesh-webhook
# Built rather than go run: the process the demo stops is then the one
# that stops mesh-webhook (go run would leave its child running).
go build -o bin/localwebhook ./hack/localwebhook
tools=$(hack/build-tools.sh --sim)
charts=$(hack/istio-charts.sh)
mkdir -p "$DEMO_DIR"
export PATH=$ROOT/bin:$tools:$PATH
echo "kubectl $(kubectl version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | head -1), $(kubectl mesh version | head -1)"

step "Start the simulated cluster (etcd, kube-apiserver, controller manager, scheduler, kwok)"
hack/sim.sh down >/dev/null 2>&1 || true
KUBECONFIG=$(hack/sim.sh up 2>/dev/null | tail -1)
export KUBECONFIG
run kubectl get nodes

step "1. istioctl install --set profile=demo -y   =>   kubectl mesh install --profile demo"
# The simulated cluster cannot call webhooks served by pods: its values
# leave istiod's webhooks out (docs/simulated-cluster.md).
run kubectl mesh install --profile demo --charts "$charts" -f hack/sim/istio-values.yaml --timeout 3m
run kubectl get deployments -n istio-system
run kubectl mesh status

step "3. kubectl label namespace default istio-injection=enabled   =>   kubectl mesh inject enable default"
run kubectl mesh inject enable default

step "4. apply Bookinfo   =>   kubectl mesh bookinfo deploy"
run kubectl mesh bookinfo deploy -n default --timeout 3m
run kubectl mesh bookinfo status -n default

step "5. Gateway and VirtualService by hand   =>   kubectl mesh bookinfo expose"
run kubectl mesh bookinfo expose -n default
run kubectl get gateways.networking.istio.io,virtualservices.networking.istio.io -n default

step "6. find GATEWAY_URL   =>   kubectl mesh bookinfo url"
run kubectl mesh bookinfo url
run kubectl mesh ingress url -o env

step "8. canary: the app, then hand-written weights   =>   kubectl mesh sample deploy canary, kubectl mesh canary"
run kubectl mesh sample deploy canary -n default --timeout 3m
run kubectl mesh canary set canary v1=90,v2=10 --gateway canary-gateway --hosts '*' -n default
run kubectl mesh canary step canary --to v2 --by 10 -n default
run kubectl mesh canary status canary -n default
run kubectl mesh canary promote canary --to v2 -n default
run kubectl mesh canary rollback canary -n default
run kubectl mesh canary status canary -n default
expect_fail 2 kubectl mesh canary set canary v1=90,v2=20 -n default
expect_fail 1 kubectl mesh canary set canary v1=50,v3=50 -n default

step "9. circuit breaker   =>   kubectl mesh sample deploy httpbin fortio, kubectl mesh resilience circuit-breaker"
run kubectl mesh sample deploy httpbin fortio -n default --timeout 3m
run kubectl mesh resilience circuit-breaker httpbin -n default --max-connections 1 --http1-max-pending-requests 1 \
  --max-requests-per-connection 1 --consecutive-gateway-errors 1 --interval 1s --base-ejection-time 3m --max-ejection-percent 100
run kubectl get destinationrules.networking.istio.io httpbin -n default -o jsonpath='{.spec.trafficPolicy}{"\n"}'
echo "Fortio's load from inside the mesh: no container runs in the simulated cluster, so the Job is made,"
echo "its result never comes, and it is deleted (on a real cluster: about 16 answers 200 and 4 answers 503)."
expect_fail 1 kubectl mesh load http://httpbin:8000/get --in-cluster --namespace default -c 2 -n 20 --qps 0 --job-timeout 20s

step "10. timeout and delay   =>   kubectl mesh sample deploy nginx tomcat, kubectl mesh resilience timeout|fault"
run kubectl mesh sample deploy nginx tomcat -n default --timeout 3m
run kubectl mesh resilience timeout nginx-svc 2s -n default
run kubectl mesh resilience fault tomcat-svc --delay 10s -n default
run kubectl get virtualservices.networking.istio.io nginx-svc tomcat-svc -n default -o custom-columns=NAME:.metadata.name,HTTP:.spec.http

step "11. retries and abort   =>   kubectl mesh resilience retry|fault --replace"
run kubectl mesh resilience retry nginx-svc --attempts 3 --per-try-timeout 2s --replace -n default
run kubectl mesh resilience fault tomcat-svc --abort 503 --replace -n default
run kubectl get virtualservices.networking.istio.io nginx-svc tomcat-svc -n default -o custom-columns=NAME:.metadata.name,HTTP:.spec.http

step "Delete the settings again   =>   kubectl mesh resilience clear"
run kubectl mesh resilience clear nginx-svc -n default
run kubectl mesh resilience clear tomcat-svc -n default
run kubectl mesh resilience clear httpbin -n default
run kubectl get virtualservices.networking.istio.io,destinationrules.networking.istio.io -n default

step "The slips that become 503s, caught in CI: kubectl mesh validate"
run kubectl mesh validate -f examples/validate/canary.yaml
expect_fail 1 kubectl mesh validate -f examples/validate/canary-slips.yaml

step "... and on apply: mesh-webhook (run beside the simulated cluster, whose pods cannot run it)"
bin/localwebhook -webhook bin/mesh-webhook -dir "$DEMO_DIR" > "$DEMO_DIR/localwebhook.out" 2>&1 &
webhook_pid=$!
for _ in $(seq 120); do grep -q '^ready' "$DEMO_DIR/localwebhook.out" 2>/dev/null && break; sleep 0.5; done
grep '^ready' "$DEMO_DIR/localwebhook.out" || { cat "$DEMO_DIR/localwebhook.out"; exit 1; }
run kubectl create namespace shop
expect_fail 1 kubectl apply -n shop -f examples/validate/canary-slips.yaml
run kubectl apply -n shop -f examples/validate/canary.yaml
kill "$webhook_pid"; wait "$webhook_pid" 2>/dev/null || true; webhook_pid=

step "7. cleanup script   =>   kubectl mesh bookinfo cleanup, kubectl mesh sample cleanup"
run kubectl mesh bookinfo cleanup -n default
run kubectl mesh sample cleanup -n default
run kubectl get virtualservices.networking.istio.io,destinationrules.networking.istio.io,gateways.networking.istio.io,deployments,services,configmaps -n default -l app.kubernetes.io/managed-by=kubectl-mesh

step "2. istioctl manifest generate | kubectl delete -f -   =>   kubectl mesh uninstall"
run kubectl mesh uninstall --purge
run kubectl get deployments -n istio-system

step "Stop the simulated cluster"
hack/sim.sh down
trap - EXIT
echo "Demo complete."
