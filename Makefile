# kubectl-mesh: `make demo` builds and runs the main job, `make test` runs
# every test. Everything comes from the Go module proxy; nothing else is
# downloaded.

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X github.com/kubectl-mesh/kubectl-mesh/plugin.Version=$(VERSION) -X github.com/kubectl-mesh/kubectl-mesh/plugin.Commit=$(COMMIT)
CACHE     := .cache
MESH_FILE := $(CACHE)/bench/mesh-10000.yaml

.PHONY: all build tools sim-up sim-down demo test test-go test-rego lint bench bench-validate docs clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-mesh ./cmd/kubectl-mesh

# The story so far: validate a healthy canary, then the same canary after
# three slips. Later steps (simulated cluster, install, Bookinfo, canary,
# resilience, webhook) join as their commands land.
demo: build
	@echo "== kubectl mesh version"
	@$(BIN)/kubectl-mesh version
	@echo
	@echo "== kubectl mesh validate -f examples/validate/canary.yaml"
	@$(BIN)/kubectl-mesh validate -f examples/validate/canary.yaml
	@echo
	@echo "== kubectl mesh validate -f examples/validate/canary-slips.yaml   (exit 1 expected)"
	@$(BIN)/kubectl-mesh validate -f examples/validate/canary-slips.yaml; test $$? -eq 1
	@echo
	@echo "== the same as JSON, for CI tooling"
	@$(BIN)/kubectl-mesh validate -f examples/validate/canary-slips.yaml -o json | head -n 14; true

test: test-go test-rego

# Every Go test, the fuzz targets' seed corpora, the Rego tests and the
# end-to-end tests against a real kube-apiserver and etcd (built from Go
# modules and cached under .cache/tools by hack/build-tools.sh).
test-go: tools
	$(GO) vet ./...
	MESH_E2E_ASSETS=$$(hack/build-tools.sh --sim) MESH_SIM=1 $(GO) test -count=1 -timeout 20m ./...

tools:
	@hack/build-tools.sh --sim > /dev/null

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

# The validate benchmark of issue 2: the kubectl-mesh binary over a
# generated 10,000-Service mesh, wall time, CPU time (steadier than wall
# time on a shared machine) and peak RSS.
bench-validate: build $(MESH_FILE)
	@/usr/bin/time -f 'wall %es, user %Us, sys %Ss, peak RSS %MkB' $(BIN)/kubectl-mesh validate -f $(MESH_FILE) -o json > $(CACHE)/bench/validate.json; test $$? -le 1
	@$(GO) run ./hack/countfindings < $(CACHE)/bench/validate.json

$(MESH_FILE):
	@mkdir -p $(dir $@)
	$(GO) run ./hack/genmesh -services 10000 -namespaces 100 -error-every 50 -o $@

docs:
	$(GO) test -count=1 -run TestChecksDoc ./policies -update

# A simulated cluster on loopback (etcd, kube-apiserver, controller manager,
# scheduler and kwok with one fake node): pods report Running and Ready
# without containers. `eval $$(hack/sim.sh env)` points kubectl at it.
sim-up:
	@hack/sim.sh up

sim-down:
	@hack/sim.sh down

clean:
	rm -rf $(BIN) dist
