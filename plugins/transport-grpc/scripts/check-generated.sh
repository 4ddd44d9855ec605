#!/usr/bin/env bash
# Regenerate the gRPC code from proto/ with buf + ts-proto into a scratch
# directory and fail when it differs from the committed src/generated/.
# Works from any directory and in a fresh clone (no network: buf and the
# ts-proto plugin come from node_modules). Fix a failure with
#   npm run generate -w @wgmesh/transport-grpc
# and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
npx --no-install buf lint
npx --no-install buf generate --output "$scratch"
if ! diff -r -u src/generated "$scratch/src/generated"; then
  echo "transport-grpc: src/generated/ is out of date with proto/; run 'npm run generate -w @wgmesh/transport-grpc' and commit it" >&2
  exit 1
fi
echo "transport-grpc: generated code matches proto/"
