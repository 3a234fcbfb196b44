#!/usr/bin/env bash
# Build one program of the stack from Go modules and print its path:
#   scripts/build-backend.sh collector|jaeger|prometheus|victorialogs|compose-schema
# (compose-schema is no program: the Compose Specification's JSON schema, from
# the Go module of its reference implementation, to check docker-compose.yml.)
# Versions come from deploy/versions.env (the collector's components from
# deploy/collector/builder-config.yaml). Each build is cached under
# $AUDITHOOK_CACHE (default ~/.cache/audithook) by name, version and recipe, so
# a second run is instant; GOMODCACHE and GOCACHE are whatever the environment
# says, and a build from empty ones works (the slow test tier proves it).
# With AUDITHOOK_CACHED_ONLY=1 it builds nothing: it prints a cached binary or
# exits 3.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
name="${1:?usage: build-backend.sh collector|jaeger|prometheus|victorialogs|compose-schema}"
# shellcheck source=../deploy/versions.env
source "$root/deploy/versions.env"
cache_root="${AUDITHOOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audithook}"
export GOFLAGS="${GOFLAGS:-} -mod=mod"

# Jaeger's go.mod replaces one module; `go install module@version` refuses such
# a module, so a wrapper module requires Jaeger and repeats the replace.
jaeger_replace="github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0"

# cached NAME VERSION RECIPE: set $dir and $binary for this recipe, and print the
# binary and exit when it was built before.
cached() {
    local key
    key="$(printf '%s\n' "$3" | sha256sum | cut -c1-12)"
    dir="$cache_root/$1-$2-$key"
    binary="$dir/$1"
    if [ -f "$binary" ]; then
        echo "$binary"
        exit 0
    fi
    if [ "${AUDITHOOK_CACHED_ONLY:-0}" = 1 ]; then
        echo "build-backend.sh: $1 $2 is not built (run scripts/build-backend.sh $1)" >&2
        exit 3
    fi
    # built in a side directory and moved in whole: an interrupted build
    # never leaves a binary that looks cached
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    echo "building $1 $2 from Go modules (cache: $dir)" >&2
}

case "$name" in
collector)
    manifest="$root/deploy/collector/builder-config.yaml"
    cached collector "$OTELCOL_VERSION" "$(cat "$manifest")"
    GOBIN="$dir.tmp/bin" go install "go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION" >&2
    cp "$manifest" "$dir.tmp/builder-config.yaml"
    (cd "$dir.tmp" && CGO_ENABLED=0 ./bin/builder --config builder-config.yaml >&2)
    mv "$dir.tmp/otelcol/otelcol-audithook" "$dir.tmp/collector"
    ;;
jaeger)
    cached jaeger "$JAEGER_VERSION" "$JAEGER_MODULE_VERSION $jaeger_replace"
    cd "$dir.tmp"
    printf 'module audithook.invalid/jaeger-build\n\ngo 1.24\n\nreplace %s\n' \
        "$jaeger_replace" > go.mod
    go get "github.com/jaegertracing/jaeger/cmd/jaeger@v$JAEGER_MODULE_VERSION" >&2
    go build -trimpath -ldflags="-s -w" -o jaeger github.com/jaegertracing/jaeger/cmd/jaeger >&2
    ;;
prometheus)
    cached prometheus "$PROMETHEUS_VERSION" "$PROMETHEUS_MODULE_VERSION"
    GOBIN="$dir.tmp" go install -trimpath -ldflags="-s -w" \
        "github.com/prometheus/prometheus/cmd/prometheus@v$PROMETHEUS_MODULE_VERSION" >&2
    ;;
victorialogs)
    cached victorialogs "$VICTORIALOGS_VERSION" "$VICTORIALOGS_VERSION"
    GOBIN="$dir.tmp" go install -trimpath -ldflags="-s -w" \
        "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v$VICTORIALOGS_VERSION" >&2
    mv "$dir.tmp/victoria-logs" "$dir.tmp/victorialogs"
    ;;
compose-schema)
    cached compose-schema "$COMPOSE_SPEC_VERSION" "$COMPOSE_SPEC_VERSION"
    module="github.com/compose-spec/compose-go/v2@v$COMPOSE_SPEC_VERSION"
    source_dir="$(cd "$dir.tmp" && go mod download -json "$module" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    cp "$source_dir/schema/compose-spec.json" "$dir.tmp/compose-schema"
    ;;
*)
    echo "build-backend.sh: unknown program '$name'" >&2
    exit 2
    ;;
esac
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "$binary"
