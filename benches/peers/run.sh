#!/usr/bin/env bash
# Side-by-side speed against peer simulators on identical workloads.
#
# Installs each peer from its own registry into benches/peers/.peers/
# (SimPy from PyPI in a venv, inference-lab from crates.io with
# `cargo install --root`, hyperfine from Debian's packages if missing),
# builds servesim in release mode, then times whole processes, A and B in
# turn (farm-bench if present: ratios pair by pair; else hyperfine), and
# prints each peer's own metrics beside servesim's:
#   1. M/M/4 (lambda 320/s, mean service 10 ms), N customers: SimPy vs
#      servesim's scenarios/validation/mmc.toml;
#   2. inference-lab's long benchmark (Llama-3-70B, chunked prefill, 40,000
#      requests) vs benches/peers/inference-lab-long.toml, with both
#      sides' metrics in one table (compare_lab.py);
#   3. the Azure code trace on Llama-2-70B, 4 replicas of TP2 on A100 (Vidur's
#      setup; scenarios/azure-code-llama70b.toml with overrides, needs
#      ../shared/data/azure-llm-2023/code.csv), servesim alone.
#
# Usage: benches/peers/run.sh [customers]   (default 1000000)
# SERVESIM_PEERS_DIR overrides where the peers are installed; an interrupted
# install resumes from its own target folder there.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
peers="${SERVESIM_PEERS_DIR:-$root/benches/peers/.peers}"
customers=${1:-1000000}
mkdir -p "$peers"
cd "$root"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F)"

# Debian packages, installed when missing (as root); the package lists are
# refreshed once if the first install fails (a fresh machine has none).
apt_install() {
    apt-get install -y "$@" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$@" >/dev/null; } ||
        { echo "apt-get install $* failed: install it and rerun" >&2; exit 1; }
}
command -v hyperfine >/dev/null || apt_install hyperfine
if [ ! -x "$peers/venv/bin/python" ]; then
    rm -rf "$peers/venv"
    python3 -m venv "$peers/venv" 2>/dev/null || { apt_install python3-venv && rm -rf "$peers/venv" && python3 -m venv "$peers/venv"; }
    "$peers/venv/bin/pip" install --quiet simpy
fi
if [ ! -x "$peers/inference-lab/bin/inference-lab" ]; then
    cargo install --locked --quiet inference-lab --root "$peers/inference-lab" --target-dir "$peers/target"
fi
cargo build --release --quiet
servesim="$root/target/release/servesim"
lab="$peers/inference-lab/bin/inference-lab"
# The crate's package ships its configs and workloads; cargo unpacked it.
lab_src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/inference-lab-"$("$lab" --version | awk '{print $2}')" | head -1)
out=$(mktemp -d)

# Times A against B (whole processes), A and B in turn where possible.
versus() {
    local a=$1 b=$2
    if command -v farm-bench >/dev/null; then
        farm-bench -n 5 --warmup 1 --timeout 1800 --vs "$b" -- sh -c "$a"
    else
        hyperfine --warmup 1 --runs 5 -N "$a" "$b"
    fi
}

echo
echo "== 1. M/M/4, $customers customers: servesim (A) vs SimPy $("$peers/venv/bin/python" -c 'import simpy; print(simpy.__version__)') (B)"
ss_mmc="$servesim run scenarios/validation/mmc.toml --set run.max_requests=$customers --out $out/mmc"
py_mmc="$peers/venv/bin/python benches/peers/mmc_simpy.py $customers"
$ss_mmc | head -2
$py_mmc
versus "$ss_mmc" "$py_mmc"

echo
echo "== 2. inference-lab's long benchmark: servesim (A) vs $("$lab" --version) (B)"
ss_long="$servesim run benches/peers/inference-lab-long.toml --out $out/long"
lab_long="$lab -q --config $lab_src/configs/llama-3-70b.toml --workload $lab_src/workloads/long-benchmark.toml"
$ss_long >/dev/null
$lab_long -o "$out/lab-long.json" >/dev/null
python3 benches/peers/compare_lab.py "$out/long/summary.json" "$out/lab-long.json"
versus "$ss_long" "$lab_long"

echo
echo "== 3. Azure code trace, Llama-2-70B, 4 replicas TP2 on A100: servesim whole process"
if [ -f "$root/../shared/data/azure-llm-2023/code.csv" ]; then
    hyperfine --warmup 2 --runs 20 -N "$servesim run scenarios/azure-code-llama70b.toml --set replica.count=4 --set replica.tp=2 --set replica.gpu=a100-80gb --out $out/azure"
else
    echo "skipped: ../shared/data/azure-llm-2023/code.csv is absent"
fi
rm -rf "$out"
