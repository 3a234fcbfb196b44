#!/usr/bin/env bash
# Build the OpenTelemetry Collector of deploy/collector/builder-config.yaml from
# Go modules with the collector builder, and print the binary's path.
# The result is cached by the manifest's hash: a second run is instant.
#
# The builder's own `go mod tidy` fails here: it also resolves the modules that
# the *tests* of our components import, and the Go module proxy refuses one of
# them, github.com/open-telemetry/opentelemetry-collector-contrib/extension/
# encoding/otlpencodingextension@v0.155.0 (imported by fileexporter's tests:
# "403 Forbidden: This module version is not available"). So the builder only
# generates the sources; `go mod tidy -e` then resolves what it can (the
# refused module is never compiled into the collector) and `go build` builds.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
manifest="$root/deploy/collector/builder-config.yaml"
version="$(sed -n 's/^  version: *//p' "$manifest")"
hash="$(sha256sum "$manifest" | cut -c1-16)"
cache="${AUDITHOOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audithook}/otelcol-$hash"
binary="$cache/otelcol/otelcol-audithook"
if [ -x "$binary" ]; then
    echo "$binary"
    exit 0
fi
mkdir -p "$cache"
export GOBIN="$cache/bin" GOFLAGS="${GOFLAGS:-} -mod=mod"
echo "building the collector v$version (cache: $cache)" >&2
go install "go.opentelemetry.io/collector/cmd/builder@v$version" >&2
cp "$manifest" "$cache/builder-config.yaml"
cd "$cache"
"$GOBIN/builder" --config builder-config.yaml --skip-compilation --skip-get-modules >&2
cd otelcol
go mod tidy -e >&2
go build -trimpath -ldflags="-s -w" -o otelcol-audithook . >&2
"$binary" --version >&2
echo "$binary"
