#!/usr/bin/env bash
# Written by ko_load from rules/private/load.sh.tpl: loads {{image}} into
# docker (when its daemon answers) or podman, as `rko build -L` does, and
# gives it every name in {{tags}}.
set -euo pipefail
tarball="{{tarball}}"
tags_file="{{tags}}"
rko="{{rko}}"

while IFS= read -r tag || [ -n "$tag" ]; do
    case "$tag" in
        *{*}*)
            echo "ko_load {{label}}: tag $tag has a stamp placeholder: build with --stamp (its values come from Bazel's status files; --workspace_status_command adds keys)" >&2
            exit 2 ;;
    esac
done < "$tags_file"

if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    cli=docker
elif command -v podman >/dev/null 2>&1; then
    cli=podman
else
    echo "ko_load: neither docker (with a running daemon) nor podman is available" >&2
    exit 1
fi

# A lazy ko_load exports here, reading the layers it lacks from the cache.
if [ -n "$rko" ]; then
    remote_cache="${RKO_REMOTE_CACHE:-{{remote_cache}}}"
    export_args=(export "{{layout}}" --format docker --tag-file "$tags_file")
    if [ -n "{{platform}}" ]; then
        export_args+=(--platform "{{platform}}")
    fi
    while IFS= read -r hint || [ -n "$hint" ]; do
        [ -n "$hint" ] && export_args+=(--blob-hint "${BUILD_WORKSPACE_DIRECTORY:-.}/$hint")
    done < "{{hints}}"
    if [ -n "$remote_cache" ]; then
        export_args+=(--remote-cache "$remote_cache")
        if [ -n "{{remote_instance_name}}" ]; then
            export_args+=(--remote-instance-name "{{remote_instance_name}}")
        fi
    fi
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    tarball="$scratch/image.tar"
    "./$rko" "${export_args[@]}" --out "$tarball"
fi

"$cli" load --input "$tarball"
# The tarball names the image with the first tag; the others are added.
first=""
while IFS= read -r tag || [ -n "$tag" ]; do
    [ -n "$tag" ] || continue
    if [ -z "$first" ]; then
        first=$tag
    else
        "$cli" tag "$first" "$tag"
    fi
done < "$tags_file"
