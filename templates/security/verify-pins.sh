#!/usr/bin/env bash
{{ managed_header("#") }}
# Fails when a workflow uses an action by tag or branch (`@v4`, `@main`)
# instead of a full 40-character commit SHA: tags can be moved to point at
# different code, commits cannot. Local actions (`./...`) and container
# images (`docker://...`) are not checked.
set -euo pipefail

shopt -s nullglob
status=0
for file in .github/workflows/*.yml .github/workflows/*.yaml; do
  while IFS=: read -r line text; do
    ref="${text#*uses:}"
    ref="${ref%%#*}"
    ref="$(printf '%s' "$ref" | tr -d " \"'")"
    case "$ref" in
      ./* | docker://*) continue ;;
    esac
    if [[ ! "$ref" =~ @[0-9a-f]{40}$ ]]; then
      echo "::error file=$file,line=$line::$ref is not pinned to a full commit SHA"
      status=1
    fi
  done < <(grep -nE '^[[:space:]]*(-[[:space:]]+)?uses:' "$file" || true)
done

if [[ "$status" -eq 0 ]]; then
  echo "all actions are pinned by commit SHA"
fi
exit "$status"
