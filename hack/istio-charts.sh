#!/usr/bin/env bash
# Prints the folder of Istio's Helm charts (an Istio source tree's
# manifests/charts: base/, istio-control/istio-discovery/, gateway/) for
# `kubectl mesh install --charts`, taken from the Go module istio.io/istio
# in the module cache (downloaded through the Go module proxy when missing;
# nothing is added to go.mod). Tests and `make demo` install from it.
#
# The module serves only pseudo-versions: this one is Istio's master branch
# at commit eed52ebb66ad (2026-08-27), VERSION 1.31; its charts are
# versioned 1.0.0 and default to the image tag "latest" of Istio's testing
# hub.
set -euo pipefail
ISTIO_MODULE_VERSION=${ISTIO_MODULE_VERSION:-v0.0.0-20260827124520-eed52ebb66ad}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "$ROOT" && GOFLAGS=-mod=mod go mod download -json "istio.io/istio@$ISTIO_MODULE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ] || [ ! -f "$dir/manifests/charts/base/Chart.yaml" ]; then
  echo "istio-charts: no charts in istio.io/istio@$ISTIO_MODULE_VERSION" >&2
  exit 1
fi
echo "$dir/manifests/charts"
