# Sourced by scripts/bench: `scripts/bench ko` and `scripts/bench far`, rko
# beside the real ko v0.19.1 (target/peers/ko, from scripts/peers) on the
# same work in one run: the same module, the same base image in the same
# loopback registry (pushed once, named by KO_DEFAULTBASEIMAGE for both),
# the same SOURCE_DATE_EPOCH, GOCACHE and GOFLAGS, offline (GOPROXY=off with
# the module cache the install step filled, GOTOOLCHAIN=local; the generated
# modules are vendored). Each tool has its own fresh HOME; ko runs without
# KOCACHE (it has no cache then), rko with its own KOCACHE.
#
# Each run appends "ROW:TOOL MS OWN_KB TREE_KB" to a results file
# (bench_report.py measure); bench_report.py ko / far print the medians,
# the ratio (ko's time over rko's), the goal of issue 24 and whether it is
# met, and peak RSS (the tool's own process / the largest process it ran).

# ko_env HOST: the settings both tools share; the base is an index
# (linux/amd64, linux/arm64) of builtin:static pushed to HOST/base:multi.
ko_env() {
    local host="$1"
    ko="$repo_root/target/peers/ko"
    [ -x "$ko" ] || "$repo_root/scripts/peers"
    # Before HOME changes: the module cache stays the one install filled.
    GOMODCACHE="$(go env GOMODCACHE)"
    GOPATH="$(go env GOPATH)"
    export GOMODCACHE GOPATH GOCACHE="$work/gocache" CGO_ENABLED=0 SOURCE_DATE_EPOCH=1700000000
    export KO_DEFAULTBASEIMAGE="$host/base:multi"
    unset KOCACHE KO_DOCKER_REPO KO_CONFIG_PATH
    mkdir -p "$work/home-rko" "$work/home-ko"
    if [ ! -d "$work/base-multi" ]; then
        "$rko" append --base builtin:static --platform linux/amd64 --out "$work/base-amd64" >/dev/null
        "$rko" append --base builtin:static --platform linux/arm64 --out "$work/base-arm64" >/dev/null
        "$rko" index --image "$work/base-amd64" --image "$work/base-arm64" --out "$work/base-multi" >/dev/null
    fi
    "$rko" push "$work/base-multi" "$registry_host/base:multi" >/dev/null 2>&1
}

# load_average: the machine's 1, 5 and 15 minute load averages.
load_average() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"; }

# measured RESULTS ROW:TOOL DIR COMMAND... : COMMAND run once in DIR, timed.
measured() {
    local results="$1" name="$2" dir="$3"; shift 3
    (cd "$dir" && python3 "$repo_root/scripts/bench_report.py" measure \
        "$work/$results" "$name" "$work/last.log" -- "$@") || exit 1
}

# run_rko RESULTS ROW DIR KOCACHE REPO ARGS... : `rko ARGS` in DIR, pushing
# to REPO, timed as ROW:rko.
run_rko() {
    local results="$1" row="$2" dir="$3" cache="$4" repo="$5"; shift 5
    measured "$results" "$row:rko" "$dir" env HOME="$work/home-rko" KOCACHE="$cache" \
        KO_DOCKER_REPO="$repo" "$rko" "$@"
}

# run_ko RESULTS ROW DIR REPO ARGS... : `ko ARGS` in DIR, pushing to REPO,
# timed as ROW:ko.
run_ko() {
    local results="$1" row="$2" dir="$3" repo="$4"; shift 4
    measured "$results" "$row:ko" "$dir" env -u KOCACHE HOME="$work/home-ko" \
        KO_DOCKER_REPO="$repo" "$ko" "$@"
}

# pair RESULTS ROW DIR REPO_PREFIX KOCACHE ARGS... : rko and ko, the same
# ARGS, once each, rko first in odd rounds (the global `round`) and ko
# first in even ones; rko pushes to REPO_PREFIX-rko, ko to REPO_PREFIX-ko.
# Before each tool: the command in `before_each`, if set; a one-line change
# to the file `edit_file`, if set (each tool its own text, so that neither
# finds the other's compile in the shared Go cache).
pair() {
    local results="$1" row="$2" dir="$3" prefix="$4" cache="$5"; shift 5
    local tools=(rko ko) tool
    [ $((${round:-1} % 2)) = 1 ] || tools=(ko rko)
    for tool in "${tools[@]}"; do
        [ -z "${before_each:-}" ] || $before_each
        [ -z "${edit_file:-}" ] || edit "$edit_file" "$tool $row ${round:-1}"
        if [ "$tool" = rko ]; then
            run_rko "$results" "$row" "$dir" "$cache" "$prefix-rko" "$@"
        else
            run_ko "$results" "$row" "$dir" "$prefix-ko" "$@"
        fi
    done
}

# edit FILE TEXT : the file's marked line now says TEXT (a Go string), a
# one-line change; each tool gets its own text, so neither finds the other's
# compile in the shared Go cache.
edit() { sed -i "s/\"edit:[^\"]*\"/\"edit: $2\"/" "$1"; }

# ko_module DIR COMMANDS PACKAGES : a generated module (scripts/
# gen-vendored-module) whose first package (p0, which every other builds
# on) and last (which every command imports) have a string to edit that
# reaches the binaries; its deploy.yaml names every command.
ko_module() {
    "$repo_root/scripts/gen-vendored-module" "$1" "$2" "$3" >/dev/null
    local last=$(($3 - 1))
    sed -i 's|return "p0"|return "p0" + "edit: 0"|' "$1/vendor/example.com/dep/p0/p.go"
    sed -i "s|\"/p$last\")|\"/p$last\" + \"edit: 0\")|" "$1/vendor/example.com/dep/p$last/p.go"
}

# hello_copy DIR : examples/hello with a string to edit in its greeting.
hello_copy() {
    cp -r "$repo_root/examples/hello" "$1"
    sed -i 's|"Hello from rko! (uid %d)\\n"|"edit: 0" + "Hello from rko! (uid %d)\\n"|' "$1/main.go"
}

# ---- ko ---------------------------------------------------------------------

# fresh_rko_cache: an empty KOCACHE for the cold rows ($work/kc-cold).
fresh_rko_cache() { rm -rf "$work/kc-cold"; }

# fresh_caches: that, and an empty Go cache in $work/gocache-cold, which
# the rows that run with fresh_caches name as GOCACHE.
fresh_caches() { rm -rf "$work/kc-cold" "$work/gocache-cold"; }

bench_ko() {
    load_average
    start_registry
    local host="$registry_host" res=ko-results round n
    ko_env "$host"
    local hello="$work/ko-hello" deps="$work/ko-deps" ten="$work/ko-ten" kc="$work/kc" cold="$work/kc-cold"
    local plat=--platform=linux/amd64,linux/arm64
    hello_copy "$hello"
    cp -r "$repo_root/examples/deps" "$deps"
    ko_module "$ten" 10 300
    log "warming the Go cache and rko's cache (both tools, each workload once)"
    pair warm-results warm "$hello" "$host/hello" "$kc" build .
    pair warm-results warm "$hello" "$host/hello" "$kc" build "$plat" .
    pair warm-results warm "$ten" "$host/ten" "$kc" resolve -f deploy.yaml
    for round in $(seq "$runs"); do
        log "ko round $round of $runs"
        before_each=fresh_rko_cache pair "$res" cold-1 "$hello" "$host/cold1-$round" "$cold" build .
        GOCACHE="$work/gocache-cold" before_each=fresh_caches pair "$res" cold-deps "$deps" "$host/colddeps-$round" "$cold" build .
        fresh_caches
        GOCACHE="$work/gocache-cold" measured "$res" cold-deps:go "$deps" go build -trimpath -o "$work/deps-bin" .
        rm -rf "$work/gocache-cold"
        # The last round's change rows left a source rko has not built:
        # an untimed build first, so that the timed ones change nothing.
        run_rko warm-results warm "$hello" "$kc" "$host/hello-rko" build .
        pair "$res" noop-build "$hello" "$host/hello" "$kc" build .
        run_rko warm-results warm "$ten" "$kc" "$host/ten-rko" resolve -f deploy.yaml
        pair "$res" noop-resolve-10 "$ten" "$host/ten" "$kc" resolve -f deploy.yaml
        edit_file="$ten/vendor/example.com/dep/p299/p.go" pair "$res" change-resolve-10 "$ten" "$host/ten" "$kc" resolve -f deploy.yaml
        edit_file="$hello/main.go" pair "$res" platforms-2 "$hello" "$host/hello" "$kc" build "$plat" .
    done
    for n in ${KO_SIZES:-10 100}; do
        local many="$work/many-$n"
        log "scaling: $n commands x 300 packages"
        ko_module "$many" "$n" 300
        round=1 pair warm-results warm "$many" "$host/many$n" "$kc" resolve -f deploy.yaml
        for round in $(seq "$runs"); do
            # At 10 commands, the no-op row above is this one.
            [ "$n" = 10 ] || pair "$res" "noop-resolve-$n" "$many" "$host/many$n" "$kc" resolve -f deploy.yaml
            before_each=fresh_rko_cache pair "$res" "cold-resolve-$n" "$many" "$host/coldmany$n-$round" "$cold" resolve -f deploy.yaml
        done
    done
    printf '\nrko beside ko %s (%s), to a loopback registry; %s runs, medians;\n' \
        "$("$ko" version 2>/dev/null)" "$("$rko" --version 2>/dev/null)" "$runs"
    echo "ratio = ko's time / rko's; peak RSS in MB, own/tree (the tool's process / the largest process it ran)"
    report ko "$work/$res"
    load_average
}

# ---- far --------------------------------------------------------------------

# latency_proxy MS : scripts/latency_proxy.py in front of the registry, MS
# milliseconds each round trip (MS/2 each way); sets proxy_host.
latency_proxy() {
    local port
    port="$(report free-port)"
    python3 "$repo_root/scripts/latency_proxy.py" "$port" "${registry_host#*:}" "$(($1 / 2))" &
    proxy_pids+=("$!")
    for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    proxy_host="127.0.0.1:$port"
}

# big_push TOOL RESULTS ROW REF : the first push of $work/big-image to REF
# by rko or crane (whose HOME holds no credentials).
big_push() {
    if [ "$1" = rko ]; then
        measured "$2" "$3:rko" "$work" "$rko" push "$work/big-image" "$4"
    else
        measured "$2" "$3:crane" "$work" env HOME="$work/home-ko" "$repo_root/target/peers/crane" \
            push --insecure "$work/big-image" "$4"
    fi
}

# bench_ko_far: the registry 20 ms and 50 ms away (scripts/latency_proxy.py);
# a one-line change pushed (examples/hello) by rko, ko and `go build` alone;
# ten commands (30 vendored packages) after a change to the package they all
# build on, p0; the first push of a 200 MB image by rko and crane.
bench_ko_far() {
    load_average
    start_registry
    proxy_pids=()
    local near=20 far=50 near_host far_host res=far-results round c
    latency_proxy "$near"; near_host="$proxy_host"
    latency_proxy "$far"; far_host="$proxy_host"
    trap 'kill $registry_pid "${proxy_pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
    ko_env "$registry_host"
    local hello="$work/far-hello" ten="$work/far-ten" kc="$work/kc-far"
    hello_copy "$hello"
    ko_module "$ten" 10 30
    local targets=()
    for ((c = 0; c < 10; c++)); do targets+=("./cmd/c$c"); done
    log "warming the Go cache and rko's cache"
    for h in "$near_host" "$far_host"; do
        KO_DEFAULTBASEIMAGE="$h/base:multi" pair warm-results warm "$hello" "$h/hello" "$kc" build .
        KO_DEFAULTBASEIMAGE="$h/base:multi" pair warm-results warm "$ten" "$h/ten" "$kc" build "${targets[@]}"
    done
    head -c 200M /dev/urandom >"$work/noise"
    "$rko" assemble-layer --file "$work/noise=/data/noise" --out "$work/noise.tgz" --descriptor "$work/noise.json" >/dev/null
    "$rko" append --base builtin:static --layer "$work/noise.tgz=$work/noise.json" --out "$work/big-image" >/dev/null
    rm "$work/noise" "$work/noise.tgz"
    local ms h
    for round in $(seq "$runs"); do
        log "far round $round of $runs"
        for ms in "$near" "$far"; do
            h="$near_host"; [ "$ms" = "$far" ] && h="$far_host"
            export KO_DEFAULTBASEIMAGE="$h/base:multi"
            edit_file="$hello/main.go" pair "$res" "change-$ms" "$hello" "$h/hello" "$kc" build .
            edit "$hello/main.go" "go $ms $round"
            measured "$res" "change-$ms:go" "$hello" go build -trimpath -o "$work/hello-bin" .
            # Each push to a repository of its own: the first push of every blob.
            local pushers=(rko crane) tool
            [ $((round % 2)) = 1 ] || pushers=(crane rko)
            for tool in "${pushers[@]}"; do
                big_push "$tool" "$res" "big-$ms" "$h/big-$ms-$tool-$round:v1"
            done
        done
        export KO_DEFAULTBASEIMAGE="$near_host/base:multi"
        edit_file="$ten/vendor/example.com/dep/p0/p.go" pair "$res" ten-20 "$ten" "$near_host/ten" "$kc" build "${targets[@]}"
    done
    printf '\nrko beside ko %s and crane %s, the registry %s ms and %s ms away (round trip); %s runs, medians\n' \
        "$("$ko" version 2>/dev/null)" "$("$repo_root/target/peers/crane" version 2>/dev/null)" "$near" "$far" "$runs"
    echo "ratio = the other tool's time / rko's; peak RSS in MB, own/tree (the tool's process / the largest process it ran)"
    report far "$work/$res"
    load_average
}
