#!/usr/bin/env bash
# Coverage-guided fuzzing of servesim's input paths with libFuzzer.
#
#   fuzz/run.sh [EXECS] [TARGET...]
#
# Installs `cargo fuzz` from crates.io if it is missing, builds the targets
# (on the stable toolchain: without a sanitizer, and with RUSTC_BOOTSTRAP=1
# for the coverage flags only this build uses), then runs each target in
# turn for EXECS executions (default 1,000,000) and prints executions,
# wall time and findings per target. Targets: scenario, set, trace,
# profile (all by default). Seeds come from the shipped scenarios and
# profiles and from fuzz/seeds/; the grown corpus is kept in
# fuzz/corpus/<target>/ and anything found in fuzz/artifacts/<target>/.
# A finding is a panic, a run over 1 s (-timeout=1) or more than 2 GiB of
# memory (-rss_limit_mb=2048, which also caps any one allocation).
# Exit status: 0 when every target ran clean, 1 otherwise.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
execs="${1:-1000000}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(scenario set trace profile)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cd "$here"
cargo fuzz build --sanitizer none --release

# Seeds: shipped files as they are, except profiles, whose first byte
# picks the kind (0 gpu, 1 model, 2 calibrated) in the profile target.
seed_dirs() {
    case "$1" in
        scenario) echo "$root/scenarios" ;;
        set | trace) echo "$here/seeds/$1" ;;
        profile)
            local dir="$here/corpus/profile-seeds" kind=0 sub f
            mkdir -p "$dir"
            for sub in gpus models calibrated; do
                for f in "$root/profiles/$sub"/*.toml; do
                    { printf "\\x0$kind"; cat "$f"; } >"$dir/$sub-$(basename "$f")"
                done
                kind=$((kind + 1))
            done
            echo "$dir"
            ;;
    esac
}

status=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t/last-run.log"
    before=$(find "artifacts/$t" -type f ! -name '*.log' | wc -l)
    start=$(date +%s)
    # stdin from /dev/null: a fuzzed trace path such as /dev/stdin must not block.
    cargo fuzz run --sanitizer none --release "$t" "corpus/$t" "$(seed_dirs "$t")" -- \
        -runs="$execs" -timeout=1 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        </dev/null >"$log" 2>&1 || status=1
    secs=$(($(date +%s) - start))
    ran=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    found=$(($(find "artifacts/$t" -type f ! -name '*.log' | wc -l) - before))
    [ "$found" -eq 0 ] || status=1
    line=$(printf '%-9s executions %10s  time %6ss  findings %s' "$t" "${ran:-?}" "$secs" "$found")
    echo "$line"
    summary+=("$line")
done
echo "--- fuzz summary ($execs executions per target; log per target in fuzz/artifacts/<target>/last-run.log)"
printf '%s\n' "${summary[@]}"
exit "$status"
