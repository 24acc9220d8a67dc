#!/usr/bin/env bash
# Written by ko_push from rules/private/push.sh.tpl: pushes {{image}}.
# Flags: --repository REPO and --tag TAG (both repeatable) replace the
# target's repositories and tags; anything else goes to rko push.
set -euo pipefail
rko="./{{rko}}"
layout="{{layout}}"
digest_file="{{digest}}"
tags_file="{{tags}}"
repositories=({{repositories}})
layers_file="{{layers}}"
lazy="{{lazy}}"
remote_cache="${RKO_REMOTE_CACHE:-{{remote_cache}}}"
remote_instance_name="{{remote_instance_name}}"

tags=()
custom_tags=()
custom_repositories=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        -r|--repository) custom_repositories+=("$2"); shift 2 ;;
        --repository=*) custom_repositories+=("${1#*=}"); shift ;;
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
if [ ${#custom_repositories[@]} -gt 0 ]; then
    repositories=("${custom_repositories[@]}")
fi
if [ ${#repositories[@]} -eq 0 ]; then
    echo "ko_push {{label}}: no repository: set repository= (or repositories=) or pass --repository" >&2
    exit 2
fi

# The layer blobs the sparse layout lacks: in the runfiles (eager), or
# where Bazel would have written them, else in the remote cache (lazy).
blobs=()
while IFS= read -r line || [ -n "$line" ]; do
    [ -n "$line" ] || continue
    if [ -n "$lazy" ]; then
        blobs+=(--blob-hint "${BUILD_WORKSPACE_DIRECTORY:-.}/$line")
    else
        blobs+=(--layer "$line")
    fi
done < "$layers_file"
if [ -n "$lazy" ]; then
    if [ -z "$remote_cache" ]; then
        echo "ko_push {{label}}: a lazy push reads layers from the remote cache: set --define=rko_remote_cache=grpc://HOST:PORT (the address of Bazel's --remote_cache) or RKO_REMOTE_CACHE" >&2
        exit 2
    fi
    blobs+=(--remote-cache "$remote_cache")
    if [ -n "$remote_instance_name" ]; then
        blobs+=(--remote-instance-name "$remote_instance_name")
    fi
fi

if [ -n "{{sbom_tags}}" ]; then
    blobs+=(--sbom-tags)
fi

# Each repository in turn, the same tags; no tags: by digest alone.
for repository in "${repositories[@]}"; do
    if [ ${#tags[@]} -eq 0 ]; then
        args=(push "$layout" "$repository@$(cat "$digest_file")")
    else
        args=(push "$layout" "$repository:${tags[0]}")
        for tag in "${tags[@]:1}"; do
            args+=(--tag "$tag")
        done
    fi
    status=0
    "$rko" "${args[@]}" ${blobs[@]+"${blobs[@]}"} ${extra[@]+"${extra[@]}"} || status=$?
    if [ "$status" -ne 0 ]; then
        echo "ko_push {{label}}: pushing to $repository failed (exit $status); the repositories after it were not pushed to" >&2
        exit "$status"
    fi
done
