# syntax=docker/dockerfile:1
# mesh-webhook, kubectl-mesh's validating admission webhook.
#
#   docker build -t kubectl-mesh/mesh-webhook:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ... --push .
#
# The chart (charts/mesh-webhook) runs it as user 65532 with a read-only
# root filesystem; the image needs nothing else.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# Modules first, so that source changes reuse the download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
# Only the packages mesh-webhook is built from.
COPY cmd/mesh-webhook/ cmd/mesh-webhook/
COPY policies/ policies/
COPY webhook/ webhook/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags='-s -w' -o /out/mesh-webhook ./cmd/mesh-webhook

# A static binary needs no base image: it reads the API server's CA from
# its service account, and /tmp and the certificate folder are volumes.
FROM scratch
COPY --from=build /out/mesh-webhook /mesh-webhook
USER 65532:65532
# 9443 HTTPS /validate, 8081 /healthz and /readyz, 8080 /metrics
EXPOSE 9443 8081 8080
ENTRYPOINT ["/mesh-webhook"]
