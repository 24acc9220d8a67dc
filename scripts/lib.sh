# Shared by scripts/*: find or install the tools rko's demo, tests and
# benchmarks use. Installs from Debian's packages when run as root with
# apt-get; otherwise says exactly what is missing.

set -euo pipefail

# The Go the machine has (/usr/local/go on the project's machines); else
# Go 1.23 from bookworm-backports, or Debian's golang-go in /usr/lib/go.
export PATH="$PATH:/usr/local/go/bin:/usr/lib/go-1.23/bin:/usr/lib/go/bin"
# The install steps (scripts/peers, fill_module_cache) reach the module
# proxy; nothing else may: no module download, no toolchain download.
ONLINE_GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS="${GOFLAGS:-}"

# log MESSAGE: a step, with the seconds since the script started.
log() { printf '==> [%4d s] %s\n' "$SECONDS" "$*" >&2; }

# apt_install PACKAGE... : installs packages, or explains how and exits.
apt_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing $*"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/tmp/rko-apt.log 2>&1 || {
            cat /tmp/rko-apt.log >&2
            echo "error: apt-get install $* failed (log above)" >&2
            exit 1
        }
    else
        echo "error: missing $*; install with: sudo apt-get install $*" >&2
        exit 1
    fi
}

apt_updated=
apt_update() {
    if [ -z "$apt_updated" ] && [ "$(id -u)" = 0 ]; then
        log "apt-get update"
        apt-get update -q >/tmp/rko-apt-update.log 2>&1 || { cat /tmp/rko-apt-update.log >&2; exit 1; }
        apt_updated=1
    fi
}

ensure_go() {
    command -v go >/dev/null && return
    if [ "$(id -u)" = 0 ] && [ ! -e /etc/apt/sources.list.d/rko-backports.list ] \
        && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo 'deb http://deb.debian.org/debian bookworm-backports main' >/etc/apt/sources.list.d/rko-backports.list
    fi
    apt_update
    apt_install golang-1.23-go/bookworm-backports
    command -v go >/dev/null || { echo "error: go is still not on PATH" >&2; exit 1; }
}

# ensure_tools TOOL[:PACKAGE]... : installs the package (default: the
# tool's own name) of every tool not on PATH.
ensure_tools() {
    local missing=()
    for spec in "$@"; do
        local tool="${spec%%:*}" package="${spec#*:}"
        command -v "$tool" >/dev/null || missing+=("$package")
    done
    [ ${#missing[@]} = 0 ] && return
    apt_update
    apt_install "${missing[@]}"
}

# fill_module_cache: downloads, once, the modules of the examples that have
# third-party dependencies (examples/deps, and the golang.org/x/tools
# commands the parity fixtures build from it) into the Go module cache; the
# tests then build them with GOPROXY=off.
fill_module_cache() {
    (
        cd examples/deps
        export GOPROXY="$ONLINE_GOPROXY" GOFLAGS=-mod=mod
        go mod download
        go list -deps ./... golang.org/x/tools/cmd/{stringer,callgraph,digraph,gotype,eg} >/dev/null
    ) || { echo "error: could not fill the Go module cache for examples/deps (is the module proxy reachable?)" >&2; exit 1; }
}

# Buildifier, the Starlark formatter and linter, pinned: the npm package
# ships the native binaries of every platform and a node wrapper choosing
# one.
BUILDIFIER_VERSION=8.2.1

# ensure_buildifier: installs @bazel/buildifier@$BUILDIFIER_VERSION with npm,
# once, into a cache outside the checkout (as scripts/peers does the Go
# peers), and links it as target/bin/buildifier.
ensure_buildifier() {
    local cache dir
    cache="$(realpath -m "${RKO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rko/tools}")"
    dir="$cache/buildifier-$BUILDIFIER_VERSION"
    if [ ! -x "$dir/node_modules/.bin/buildifier" ]; then
        ensure_tools node:nodejs npm
        log "npm install @bazel/buildifier@$BUILDIFIER_VERSION (into $dir)"
        rm -rf "$dir.partial" && mkdir -p "$dir.partial"
        npm install --prefix "$dir.partial" --no-save --no-audit --no-fund --ignore-scripts \
            --loglevel=error "@bazel/buildifier@$BUILDIFIER_VERSION" >&2 \
            || { echo "error: npm install @bazel/buildifier@$BUILDIFIER_VERSION failed (is the npm registry reachable?)" >&2; exit 1; }
        "$dir.partial/node_modules/.bin/buildifier" --version | grep -qx "buildifier version: $BUILDIFIER_VERSION *" \
            || { echo "error: npm installed a buildifier that is not $BUILDIFIER_VERSION" >&2; exit 1; }
        rm -rf "$dir" && mv "$dir.partial" "$dir"
    fi
    mkdir -p target/bin
    ln -sfn "$dir/node_modules/.bin/buildifier" target/bin/buildifier
}

# starlark_files: every Starlark file of the repository (BUILD, WORKSPACE,
# MODULE.bazel, .bzl), NUL-separated, as git tracks them: temporary
# workspaces the tests write under target/ are not the project's.
starlark_files() {
    git ls-files -z -- '*.bzl' '*.bazel' '*BUILD' '*WORKSPACE' '*.star'
}

# The official SBOM validators (SPDX: spdx-tools; CycloneDX: the 1.5 JSON
# schema in cyclonedx-python-lib) and in-toto's own statement and SLSA
# provenance model (in-toto-attestation), pinned, from PyPI.
VALIDATORS=("spdx-tools==0.8.5" "cyclonedx-python-lib[json-validation]==11.12.0" "in-toto-attestation==0.9.3")

# ensure_validators: a Python virtual environment holding $VALIDATORS,
# made once into a cache outside the checkout (one per set of pins), and
# linked as target/validators.
ensure_validators() {
    local cache dir pins
    cache="$(realpath -m "${RKO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rko/tools}")"
    pins="$(printf '%s\n' "${VALIDATORS[@]}" | sha256sum | cut -c1-12)"
    dir="$cache/validators-$pins"
    if ! "$dir/bin/python" -c 'import spdx_tools, cyclonedx, in_toto_attestation' 2>/dev/null; then
        command -v python3 >/dev/null || apt_install python3 python3-venv
        rm -rf "$dir.partial" && mkdir -p "$cache"
        python3 -m venv "$dir.partial" >/dev/null 2>&1 || { apt_update; apt_install python3-venv; python3 -m venv "$dir.partial"; }
        log "pip install ${VALIDATORS[*]} (into $dir)"
        "$dir.partial/bin/pip" install -q "${VALIDATORS[@]}" \
            || { echo "error: pip install ${VALIDATORS[*]} failed (is PyPI reachable?)" >&2; exit 1; }
        # A virtual environment names its own path in its scripts: made
        # under the final name, it is moved there only whole.
        rm -rf "$dir" && mv "$dir.partial" "$dir"
    fi
    mkdir -p target
    [ -L target/validators ] || rm -rf target/validators
    ln -sfn "$dir" target/validators
}
