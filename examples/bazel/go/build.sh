#!/bin/bash
# GoBuild: `go build -trimpath` of one main package, hermetic: GOROOT and the
# sources are the action's inputs, copied (go:embed refuses symlinks, and
# sandboxes and remote workers stage inputs as symlinks) into a scratch
# directory beside the output, with a build cache of its own that goes away
# with it. No path of the machine reaches the action's key.
#
# $1: a params file, one argument a line:
#   GOROOT OUT GOOS GOARCH PACKAGE_DIR INPUT...   (paths relative to the exec root)
set -euo pipefail
mapfile -t args <"$1"
goroot=${args[0]} out=$PWD/${args[1]} goos=${args[2]} goarch=${args[3]} package=${args[4]}
scratch=$out.gobuild
rm -rf "$scratch"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/inputs"
printf '%s\n' "${args[@]:5}" | xargs -d '\n' cp -L --parents -t "$scratch/inputs"
cd "$scratch/inputs/$package"
env -i PATH=/usr/bin:/bin HOME="$scratch" GOENV=off \
    GOROOT="$scratch/inputs/$goroot" GOCACHE="$scratch/cache" GOPATH="$scratch/gopath" \
    GOOS="$goos" GOARCH="$goarch" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    GOTOOLCHAIN=local GOPROXY=off \
    "$scratch/inputs/$goroot/bin/go" build -trimpath -o "$out" .
