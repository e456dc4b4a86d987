#!/usr/bin/env bash
# buf breaking: on a branch, against main; on main itself (as in CI, which
# clones main), against the commit before HEAD.
set -euo pipefail
cd "$(dirname "$0")/.."
branch=$(git rev-parse --abbrev-ref HEAD)
if [ "$branch" != "main" ] && git rev-parse -q --verify refs/heads/main >/dev/null; then
  against=".git#branch=main"
elif git rev-parse -q --verify 'HEAD~1' >/dev/null && git cat-file -e 'HEAD~1:proto' 2>/dev/null; then
  against=".git#ref=HEAD~1"
else
  echo "buf breaking: no earlier contract to compare with"
  exit 0
fi
echo "buf breaking against $against"
npx buf breaking --against "$against"
