#!/usr/bin/env bash
# One pass of the GPU checks on a CUDA machine, in the order
# docs/guide/gpu-backend.md gives: kernel correctness against the CPU
# reference, calibration, a live run, fidelity. Each step is time-limited and logged; a failing
# step does not stop the next. Usage (repo root):
#   scripts/gpu-check.sh BIN_DIR OUT_DIR
# BIN_DIR holds `servesim` and the integration-test binary `it-*` (built with
# `cargo build --release && cargo test --release --test it --no-run`).
# OUT_DIR receives log.txt, h100.toml and reports.tgz (the report folders).
set -u
bin=${1:?BIN_DIR}; dest=${2:?OUT_DIR}
out=$(mktemp -d)
trap 'cp "$out/log.txt" "$out/h100.toml" "$dest/" 2>/dev/null; tar -czf "$dest/reports.tgz" -C "$out" .' EXIT
log="$out/log.txt"
step() { # name timeout command...
    local name=$1 limit=$2; shift 2
    echo "=== $name ($(date +%T))" | tee -a "$log"
    timeout "$limit" "$@" >>"$log" 2>&1
    local rc=$?
    echo "=== $name: exit $rc" | tee -a "$log"
    tail -n 25 "$log" | sed 's/^/    /'
}
# libnvrtc: the toolkit's, else the PyPI wheel's inside the image's Python.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
         $(python3 -c 'import nvidia.cuda_nvrtc, os; print(os.path.join(list(nvidia.cuda_nvrtc.__path__)[0], "lib"))' 2>/dev/null); do
    ls "$d"/libnvrtc.so* >/dev/null 2>&1 && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; } | tee -a "$log"
# The test binary finds profiles/ through the path it was built in (here).
built_in=${BUILT_IN:-/work/main}
[ -e "$built_in" ] || { mkdir -p "$(dirname "$built_in")" && ln -s "$PWD" "$built_in"; }
# Registers, spills and shared memory of every kernel (ptxas, where nvcc is).
if command -v nvcc >/dev/null; then
    for f in kernels/*.cu; do cat kernels/common.cuh "$f" >"$out/$(basename "$f")"; done
    for f in gemm attention elementwise; do
        nvcc -arch=sm_90 -cubin -Xptxas -v -o /dev/null "$out/$f.cu" 2>&1 | grep -E "Compiling|registers|spill"
    done | tee -a "$log"
fi
test_bin=$(ls "$bin"/it-* | head -n 1)
step correctness 90 "$test_bin" --nocapture --test-threads 1 live::cuda
step calibrate 300 "$bin/servesim" calibrate --backend cuda --out "$out/h100.toml" --report "$out/calibrate"
step fidelity 150 "$bin/servesim" fidelity scenarios/live-h100-llama8b.toml --profile "$out/h100.toml" \
    --backend cuda --out "$out/fidelity"
