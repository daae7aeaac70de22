#!/usr/bin/env bash
# Validate AsyncAPI documents with the official parser (@asyncapi/parser, with the official Avro
# schema parser so the Avro payloads are checked too). Installs both from npm into a cache
# directory on first use: LGSP_NPM_CACHE, default tests/.npm (ignored by git).
#   scripts/asyncapi-validate.sh FILE...      exit 0: valid; 1: invalid (diagnostics on stderr)
#   scripts/asyncapi-validate.sh --install    only install (CI does this before the tests)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${LGSP_NPM_CACHE:-$here/../tests/.npm}"
if [ ! -d "$prefix/node_modules/@asyncapi/parser" ] || \
   [ ! -d "$prefix/node_modules/@asyncapi/avro-schema-parser" ] || \
   [ ! -d "$prefix/node_modules/js-yaml" ]; then
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --silent \
    "@asyncapi/parser@3.6.6" "@asyncapi/avro-schema-parser@3.1.0" "js-yaml@4" >&2
fi
if [ "${1:-}" = "--install" ]; then
  exit 0
fi
NODE_PATH="$prefix/node_modules" exec node "$here/asyncapi_validate.cjs" "$@"
