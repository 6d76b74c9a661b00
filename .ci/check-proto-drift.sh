#!/usr/bin/env bash
# Generated code is committed; fail when proto/ and src/gen/ disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent proto
if ! git diff --quiet --exit-code -- src/gen; then
  echo "proto drift: src/gen is not what 'npm run proto' generates from proto/. Run it and commit." >&2
  git --no-pager diff --stat -- src/gen >&2
  exit 1
fi
if [ -n "$(git status --porcelain -- src/gen)" ]; then
  echo "proto drift: untracked generated files:" >&2
  git status --porcelain -- src/gen >&2
  exit 1
fi
echo "proto: generated code is current"
