#!/usr/bin/env bash
# A simulated cluster on loopback: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok, built from Go modules
# (hack/build-tools.sh --sim), with one fake node. Deployments roll out and
# pods report Running and Ready; no container ever runs.
#
#   hack/sim.sh up     start it; prints the kubeconfig path
#   hack/sim.sh down   stop it and delete its state
#   hack/sim.sh env    print `export KUBECONFIG=...`
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${SIM_DIR:-$ROOT/.cache/sim}
ETCD_PORT=${SIM_ETCD_PORT:-23790}
ETCD_PEER_PORT=${SIM_ETCD_PEER_PORT:-23800}
API_PORT=${SIM_API_PORT:-26443}
KCM_PORT=${SIM_KCM_PORT:-26257}
SCHED_PORT=${SIM_SCHED_PORT:-26259}
KWOK_PORT=${SIM_KWOK_PORT:-26247}
KWOK_VERSION=${KWOK_VERSION:-0.8.0}
KUBECONFIG_FILE=$DIR/kubeconfig

log() { echo "sim: $*" >&2; }

# start runs a component in the background, in a session of its own where
# setsid exists: Ctrl-C in the terminal then reaches the script that owns
# the cluster, which stops the components in order (down), instead of
# killing etcd under a running API server.
start() {
  local name=$1; shift
  if command -v setsid > /dev/null; then
    setsid "$@" > "$DIR/logs/$name.log" 2>&1 < /dev/null &
  else
    "$@" > "$DIR/logs/$name.log" 2>&1 < /dev/null &
  fi
  echo $! > "$DIR/$name.pid"
}

wait_for() {
  local what=$1 tries=${3:-120}; shift
  local cmd=$1
  for _ in $(seq "$tries"); do
    if eval "$cmd" > /dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$what did not come up; logs in $DIR/logs"
  return 1
}

up() {
  if [ -f "$DIR/kube-apiserver.pid" ] && kill -0 "$(cat "$DIR/kube-apiserver.pid")" 2>/dev/null; then
    log "already running"; echo "$KUBECONFIG_FILE"; return 0
  fi
  local tools; tools=$(GOWORK=off "$ROOT/hack/build-tools.sh" --sim)
  rm -rf "$DIR"; mkdir -p "$DIR/logs" "$DIR/pki" "$DIR/etcd"
  (cd "$ROOT" && go run ./hack/simkeys "$DIR")
  local token; token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$token,admin,admin,system:masters" > "$DIR/tokens.csv"
  cat > "$KUBECONFIG_FILE" <<KC
apiVersion: v1
kind: Config
clusters:
- name: sim
  cluster: {server: "https://127.0.0.1:$API_PORT", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: "$token"}
contexts:
- name: sim
  context: {cluster: sim, user: admin, namespace: default}
current-context: sim
KC
  chmod 600 "$KUBECONFIG_FILE"
  local kubectl="$tools/kubectl --kubeconfig $KUBECONFIG_FILE"

  log "etcd"
  start etcd "$tools/etcd" --name sim --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "sim=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync
  log "kube-apiserver"
  start kube-apiserver "$tools/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$API_PORT" --cert-dir "$DIR/pki" --token-auth-file "$DIR/tokens.csv" \
    --authorization-mode RBAC --allow-privileged=true \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$DIR/sa.pub" --service-account-signing-key-file "$DIR/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type none
  wait_for kube-apiserver "$kubectl get --raw /readyz"
  log "kube-controller-manager"
  start kube-controller-manager "$tools/kube-controller-manager" \
    --kubeconfig "$KUBECONFIG_FILE" --leader-elect=false --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --service-account-private-key-file "$DIR/sa.key" --root-ca-file "$DIR/pki/apiserver.crt" \
    --controllers '*'
  log "kube-scheduler"
  start kube-scheduler "$tools/kube-scheduler" \
    --kubeconfig "$KUBECONFIG_FILE" --leader-elect=false --bind-address 127.0.0.1 --secure-port "$SCHED_PORT"
  log "kwok"
  local kwokdir; kwokdir=$(cd "$ROOT" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  local stages=()
  for s in node/fast node/heartbeat pod/fast; do
    for f in "$kwokdir/kustomize/stage/$s"/*.yaml; do
      case "$f" in */kustomization.yaml) ;; *) stages+=(--config "$f") ;; esac
    done
  done
  # Ours: images tagged does-not-exist... wait in ImagePullBackOff.
  stages+=(--config "$ROOT/hack/sim/stage-image-pull-backoff.yaml")
  start kwok "$tools/kwok" --kubeconfig "$KUBECONFIG_FILE" --manage-all-nodes=true \
    --server-address "127.0.0.1:$KWOK_PORT" "${stages[@]}"
  $kubectl apply -f - > /dev/null <<NODE
apiVersion: v1
kind: Node
metadata:
  name: sim-node-0
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, kubernetes.io/hostname: sim-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64}
status:
  addresses: [{type: InternalIP, address: 127.0.0.1}, {type: Hostname, address: sim-node-0}]
  allocatable: {cpu: "32", memory: 256Gi, pods: "256"}
  capacity: {cpu: "32", memory: 256Gi, pods: "256"}
NODE
  # Istio's sidecar injector, emulated inside the API server (it cannot
  # call the webhook istiod serves): docs/simulated-cluster.md.
  $kubectl apply --server-side --field-manager sim -f "$ROOT/hack/sim/sidecar-injector.yaml" > /dev/null
  wait_for "node sim-node-0 Ready" "$kubectl wait --for=condition=Ready node/sim-node-0 --timeout=1s"
  wait_for "the default ServiceAccount" "$kubectl get serviceaccount default"
  log "ready: export KUBECONFIG=$KUBECONFIG_FILE"
  echo "$KUBECONFIG_FILE"
}

down() {
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    if [ -f "$DIR/$name.pid" ]; then
      kill "$(cat "$DIR/$name.pid")" 2>/dev/null || true
    fi
  done
  sleep 1
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    if [ -f "$DIR/$name.pid" ]; then
      kill -9 "$(cat "$DIR/$name.pid")" 2>/dev/null || true
    fi
  done
  rm -rf "$DIR"
  log "stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) echo "export KUBECONFIG=$KUBECONFIG_FILE" ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
