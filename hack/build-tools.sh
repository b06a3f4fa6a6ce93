#!/usr/bin/env bash
# Builds the control-plane binaries the end-to-end tests run (etcd,
# kube-apiserver, kubectl; with --sim also kube-controller-manager,
# kube-scheduler and kwok; with --krew only krew and its manifest validator)
# from Go modules, into a cache folder keyed by version. Nothing is
# downloaded but Go modules.
#
#   hack/build-tools.sh [--sim]   prints the folder holding the binaries
#   hack/build-tools.sh --krew    prints the folder holding krew and validate-krew-manifest
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
KWOK_VERSION=${KWOK_VERSION:-0.8.0}
KREW_VERSION=${KREW_VERSION:-0.4.3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TOOLS_CACHE:-$ROOT/.cache/tools}
OUT=$CACHE/k8s-v$K8S_VERSION-etcd-v$ETCD_VERSION
SIM=false
[ "${1:-}" = "--sim" ] && SIM=true
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0

log() { echo "build-tools: $*" >&2; }

build_etcd() {
  [ -x "$OUT/etcd" ] && return
  log "building etcd v$ETCD_VERSION (about a minute)"
  local work; work=$(mktemp -d)
  (
    cd "$work"
    go mod init tools/etcd >/dev/null 2>&1
    go mod edit -require=go.etcd.io/etcd/server/v3@v$ETCD_VERSION
    go mod tidy >/dev/null 2>&1 || true
    go get go.etcd.io/etcd/server/v3@v$ETCD_VERSION >/dev/null 2>&1
    go build -trimpath -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3
  )
  mv "$OUT/etcd.tmp" "$OUT/etcd"
  rm -rf "$work"
}

# k8s_module prepares a throw-away module requiring k8s.io/kubernetes with
# every staging module it lists replaced by its published version.
k8s_module() {
  local work=$CACHE/k8s-module-v$K8S_VERSION
  if [ ! -f "$work/.ready" ]; then
    rm -rf "$work"; mkdir -p "$work"
    (
      cd "$work"
      go mod init tools/k8s >/dev/null 2>&1
      go mod download -json k8s.io/kubernetes@v$K8S_VERSION > kubernetes.json
      local dir; dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' kubernetes.json)
      go mod edit -require=k8s.io/kubernetes@v$K8S_VERSION
      grep -E '^[[:space:]]*k8s.io/[a-z0-9-]+ => \./staging/' "$dir/go.mod" | awk '{print $1}' | sort -u | while read -r m; do
        go mod edit -replace="$m=$m@v0.${K8S_VERSION#1.}"
      done
      printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n\t_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"\n\t_ "k8s.io/kubernetes/cmd/kube-scheduler/app"\n\t_ "k8s.io/kubectl/pkg/cmd"\n)\n' > tools.go
      go mod tidy >/dev/null
    )
    touch "$work/.ready"
  fi
  echo "$work"
}

build_k8s() {
  local cmd=$1
  [ -x "$OUT/$cmd" ] && return
  log "building $cmd v$K8S_VERSION (minutes on 2 cores; cached afterwards)"
  local work; work=$(k8s_module)
  local minor=${K8S_VERSION#1.}; minor=${minor%%.*}
  local v=k8s.io/component-base/version
  (cd "$work" && go build -trimpath \
    -ldflags "-s -w -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
    -o "$OUT/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
  mv "$OUT/$cmd.tmp" "$OUT/$cmd"
}

build_kwok() {
  [ -x "$OUT/kwok" ] && return
  log "building kwok v$KWOK_VERSION"
  local work; work=$(mktemp -d)
  (
    cd "$work"
    go mod init tools/kwok >/dev/null 2>&1
    go get sigs.k8s.io/kwok@v$KWOK_VERSION >/dev/null 2>&1
    go build -trimpath -o "$OUT/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok
  )
  mv "$OUT/kwok.tmp" "$OUT/kwok"
  rm -rf "$work"
}

# krew (the plugin manager) and krew's own manifest checker, for the test
# that installs kubectl-mesh with krew. krew's module pins old Kubernetes
# modules, so it gets a throw-away module of its own.
build_krew() {
  local out=$CACHE/krew-v$KREW_VERSION
  mkdir -p "$out"
  if [ ! -x "$out/krew" ] || [ ! -x "$out/validate-krew-manifest" ]; then
    log "building krew v$KREW_VERSION"
    local work; work=$(mktemp -d)
    (
      cd "$work"
      go mod init tools/krew >/dev/null 2>&1
      go get sigs.k8s.io/krew@v$KREW_VERSION >/dev/null 2>&1
      go build -trimpath -o "$work/bin/" sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest
    )
    mv "$work/bin/krew" "$work/bin/validate-krew-manifest" "$out/"
    rm -rf "$work"
  fi
  echo "$out"
}

if [ "${1:-}" = "--krew" ]; then
  build_krew
  exit 0
fi

mkdir -p "$OUT"
build_etcd
build_k8s kube-apiserver
build_k8s kubectl
if $SIM; then
  build_k8s kube-controller-manager
  build_k8s kube-scheduler
  build_kwok
fi
echo "$OUT"
