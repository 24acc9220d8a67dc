#!/usr/bin/env bash
# Written by ko_load from rules/private/load.sh.tpl: loads {{image}} into
# docker (when its daemon answers) or podman, as `rko build -L` does, and
# gives it every name in {{tags}}.
set -euo pipefail
tarball="{{tarball}}"
tags_file="{{tags}}"

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
