#!/usr/bin/env bash
# buf breaking against the last released contract: the git tag proto-v1 (a
# release moves the tag, see README "Contracts"). Until a contract has been
# released there is nothing users depend on: the changes since the previous
# commit are reported, and the check passes.
#
# Clones do not always carry tags, so the commit each release tagged is also
# written here: the check runs against it when the tag is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
release="proto-v1"
release_commit="5cc960ccb53cfa146dcd22bd14b26b9508e901bf"
if git rev-parse -q --verify "refs/tags/$release" >/dev/null; then
  echo "buf breaking against the released contract ($release)"
  npx buf breaking --against ".git#tag=$release"
  exit 0
fi
if git cat-file -e "$release_commit^{commit}" 2>/dev/null; then
  echo "buf breaking against the released contract ($release, commit ${release_commit:0:12}; the tag is not in this clone)"
  npx buf breaking --against ".git#ref=$release_commit"
  exit 0
fi
echo "buf breaking: no released contract yet (no tag $release): reporting changes since the previous commit, not failing"
if git rev-parse -q --verify 'HEAD~1' >/dev/null && git cat-file -e 'HEAD~1:proto' 2>/dev/null; then
  npx buf breaking --against ".git#ref=HEAD~1" || echo "(unreleased contract: the changes above break nobody yet)"
fi
