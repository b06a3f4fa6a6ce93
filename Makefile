# kubectl-mesh: `make demo` builds and runs the main job, `make test` runs
# every test. Everything comes from the Go module proxy; nothing else is
# downloaded.

GO        ?= go
BIN       := bin
# Semver with a leading v, as krew wants: the last v* tag (v0.3.0-2-gabc1234
# after it), or v0.0.0-g<commit> before any tag.
VERSION   ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || { c=$$(git describe --always --dirty 2>/dev/null) && echo v0.0.0-g$$c; } || echo v0.0.0-dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X github.com/kubectl-mesh/kubectl-mesh/plugin.Version=$(VERSION) -X github.com/kubectl-mesh/kubectl-mesh/plugin.Commit=$(COMMIT)
CACHE     := .cache
MESH_FILE := $(CACHE)/bench/mesh-10000.yaml
FLEET_FILE := $(CACHE)/bench/fleet-10000.yaml
# Release archives are downloaded from RELEASE_URL/VERSION/<archive>; their
# entries carry the commit's time, so rebuilding a commit with the same Go
# toolchain gives the same bytes.
RELEASE_URL ?= https://github.com/kubectl-mesh/kubectl-mesh/releases/download
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
DIST_FLAGS = -version '$(VERSION)' -release-url '$(RELEASE_URL)'

.PHONY: all build dist krew tools sim-up sim-down demo test test-go test-rego test-oracle oracle lint bench bench-validate bench-istioctl docs clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-mesh ./cmd/kubectl-mesh

# The hand-made Istio workflow, step by step, on a simulated cluster
# of its own that is stopped at the end (hack/demo.sh).
demo: build
	@hack/demo.sh

test: test-go test-rego test-oracle

# Every Go test, the fuzz targets' seed corpora, the Rego tests and the
# end-to-end tests against a real kube-apiserver and etcd (built from Go
# modules and cached under .cache/tools by hack/build-tools.sh).
test-go: tools
	$(GO) vet ./...
	MESH_E2E_ASSETS=$$(hack/build-tools.sh --sim) MESH_SIM=1 $(GO) test -count=1 -timeout 20m ./...

tools:
	@hack/build-tools.sh --sim > /dev/null

# Istio's control plane as the oracle (test/oracle, a module of its own
# that requires istio.io/istio): the checks are held against pilot's
# discovery server and traffic simulator on hand-written cases, the
# plugin's objects for the tutorial, and ORACLE_N generated fleet-shaped
# meshes. `make oracle SEED=7 N=2000` runs a larger differential.
ORACLE_N    ?= 200
ORACLE_SEED ?= 1
ORACLE_ENV   = GOWORK=off GOFLAGS=-mod=mod MESH_BIN=$(abspath $(BIN)/kubectl-mesh)
test-oracle: build
	cd test/oracle && $(ORACLE_ENV) $(GO) build -o /dev/null ./cmd/istio-analyze
	cd test/oracle && $(ORACLE_ENV) MESH_ORACLE_N=$(ORACLE_N) MESH_ORACLE_SEED=$(ORACLE_SEED) $(GO) test -count=1 -timeout 30m .

oracle: build
	cd test/oracle && $(ORACLE_ENV) MESH_ORACLE_N=$(or $(N),1000) MESH_ORACLE_SEED=$(or $(SEED),1) $(GO) test -count=1 -timeout 60m -run TestDifferential .

# The Rego unit tests again, verbosely enough to show their coverage line.
test-rego:
	@$(GO) test -count=1 -run 'TestRegoPolicies' ./policies -v | grep -E '^(rego coverage|--- FAIL|FAIL|ok)' || true
	@$(GO) test -count=1 -run 'TestRegoPolicies' ./policies > /dev/null

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -run 'TestRegoFormatted|TestRegoPolicies|TestChecksDoc' ./policies

bench: build $(MESH_FILE)
	$(GO) test -run XXX -bench . -benchmem ./policies
	$(MAKE) --no-print-directory bench-validate

# The validate benchmark: the kubectl-mesh binary over a generated
# 10,000-Service mesh (one template per Service) and a realistic fleet of
# 10,000 Services, wall time, CPU time (steadier than wall time on a
# shared machine) and peak RSS.
bench-validate: build $(MESH_FILE) $(FLEET_FILE)
	@for f in $(MESH_FILE) $(FLEET_FILE); do \
	  echo "$$f:"; \
	  /usr/bin/time -f 'wall %es, user %Us, sys %Ss, peak RSS %MkB' $(BIN)/kubectl-mesh validate -f $$f -o json > $(CACHE)/bench/validate.json; test $$? -le 1 || exit 1; \
	  $(GO) run ./hack/countfindings < $(CACHE)/bench/validate.json; \
	done

# istioctl analyze (`--use-kube=false`, every analyzer) on the same files,
# built from the istio module the oracle requires.
bench-istioctl: $(MESH_FILE) $(FLEET_FILE)
	cd test/oracle && $(ORACLE_ENV) $(GO) build -o $(abspath $(CACHE))/bin/istio-analyze ./cmd/istio-analyze
	@for f in $(MESH_FILE) $(FLEET_FILE); do \
	  echo "$$f:"; \
	  /usr/bin/time -f 'wall %es, user %Us, sys %Ss, peak RSS %MkB' $(CACHE)/bin/istio-analyze $$f || exit 1; \
	done

$(MESH_FILE):
	@mkdir -p $(dir $@)
	$(GO) run ./hack/genmesh -services 10000 -namespaces 100 -error-every 50 -o $@

$(FLEET_FILE):
	@mkdir -p $(dir $@)
	$(GO) run ./hack/genmesh -mode realistic -seed 1 -services 10000 -o $@

docs:
	$(GO) test -count=1 -run TestChecksDoc ./policies -update

# A simulated cluster on loopback (etcd, kube-apiserver, controller manager,
# scheduler and kwok with one fake node): pods report Running and Ready
# without containers. `eval $$(hack/sim.sh env)` points kubectl at it.
sim-up:
	@hack/sim.sh up

sim-down:
	@hack/sim.sh down

# Release: kubectl-mesh for linux, darwin and windows on amd64 and arm64
# (static; one build after another, each compiling every dependency for its
# target: 37 minutes on 2 busy cores), dist/kubectl-mesh_<os>_<arch>
# archives with LICENSE, README.md and the kubectl_complete-mesh helper,
# dist/checksums.txt, and krew/mesh.yaml rendered from krew/mesh.yaml.tmpl.
dist:
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./hack/dist $(DIST_FLAGS) -ldflags '$(LDFLAGS)'

# krew/mesh.yaml again from the archives already in dist/.
krew:
	$(GO) run ./hack/dist $(DIST_FLAGS) -manifest-only

clean:
	rm -rf $(BIN) dist krew/mesh.yaml
