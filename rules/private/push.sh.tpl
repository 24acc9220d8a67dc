#!/usr/bin/env bash
# Written by ko_push from rules/private/push.sh.tpl: pushes {{image}}.
# Flags: --repository REPO and --tag TAG (repeatable) replace the target's
# repository and tags; anything else goes to rko push.
set -euo pipefail
rko="./{{rko}}"
layout="{{layout}}"
digest_file="{{digest}}"
tags_file="{{tags}}"
repository="{{repository}}"

tags=()
custom_tags=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        -r|--repository) repository="$2"; shift 2 ;;
        --repository=*) repository="${1#*=}"; shift ;;
        -t|--tag) custom_tags+=("$2"); shift 2 ;;
        --tag=*) custom_tags+=("${1#*=}"); shift ;;
        *) extra+=("$1"); shift ;;
    esac
done
if [ ${#custom_tags[@]} -gt 0 ]; then
    tags=("${custom_tags[@]}")
else
    while IFS= read -r tag || [ -n "$tag" ]; do
        [ -n "$tag" ] && tags+=("$tag")
    done < "$tags_file"
fi
for tag in ${tags[@]+"${tags[@]}"}; do
    case "$tag" in
        *{*}*)
            echo "ko_push {{label}}: tag $tag has a stamp placeholder: build with --stamp (its values come from Bazel's status files; --workspace_status_command adds keys)" >&2
            exit 2 ;;
    esac
done
if [ -z "$repository" ]; then
    echo "ko_push {{label}}: no repository: set repository= or pass --repository" >&2
    exit 2
fi

# No tags: push by digest alone.
if [ ${#tags[@]} -eq 0 ]; then
    exec "$rko" push "$layout" "$repository@$(cat "$digest_file")" ${extra[@]+"${extra[@]}"}
fi
args=(push "$layout" "$repository:${tags[0]}")
for tag in "${tags[@]:1}"; do
    args+=(--tag "$tag")
done
exec "$rko" "${args[@]}" ${extra[@]+"${extra[@]}"}
