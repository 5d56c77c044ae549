#!/usr/bin/env bash
# A sharded sweep on a real Slurm cluster: one node, this machine.
#
#   sudo scripts/slurm-check.sh      # from the repository root, as root
#
# Installs slurm-wlm and munge from Debian's packages (if missing), writes a
# one-node slurm.conf into a temporary folder (no cgroups: proctrack/linuxproc,
# task/none; private ports), starts munged, slurmctld and slurmd, submits
# examples/slurm/sweep-array.sbatch (a 6-point sweep in 3 array tasks, then
# the merge job that depends on them), waits (bounded), and compares the
# merged report byte for byte with the unsharded sweep. Stops every daemon it
# started on the way out. Exit 0 when the bytes match, 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TIMEOUT=${TIMEOUT:-300}
SERVESIM=${SERVESIM:-$ROOT/target/release/servesim}
export SCENARIO=$ROOT/scenarios/single-gpu-batching.toml
export SWEEP_ARGS="--vary workload.rate_per_s=40..140/20 --set run.duration=1m --slo-p99 250ms"
export SHARDS=3

say() { echo "slurm-check: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

[[ $(id -u) == 0 ]] || fail "run as root (it installs packages and starts daemons)"
if [[ ! -x "$SERVESIM" ]]; then
    say "building servesim"
    (cd "$ROOT" && cargo build --release --quiet --bin servesim)
fi
export SERVESIM
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

WORK=$(mktemp -d /tmp/servesim-slurm.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$WORK"/{state,spool,munge,run}
export WORK SLURM_CONF=$WORK/slurm.conf
HOST=$(hostname)

stop() {
    local pids=()
    for pidfile in "$WORK/slurmd.pid" "$WORK/slurmctld.pid" "$WORK/munge/munged.pid"; do
        [[ -s $pidfile ]] && pids+=("$(cat "$pidfile")")
    done
    ((${#pids[@]})) || return 0
    kill "${pids[@]}" 2>/dev/null || true
    # slurmctld saves its state before it exits: wait (bounded) for all three.
    for _ in $(seq 50); do
        kill -0 "${pids[@]}" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
}
trap stop EXIT

# munge: a fresh key and a private socket, so no system munged is touched.
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$WORK/munge/munge.key"
SOCKET=$WORK/munge/munge.socket
munged --force --key-file="$WORK/munge/munge.key" --socket="$SOCKET" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/seed"

cat >"$SLURM_CONF" <<CONF
ClusterName=servesim-check
SlurmctldHost=$HOST
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
NodeName=$HOST CPUs=$(nproc) State=UNKNOWN
PartitionName=check Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld -i
slurmd
deadline=$((SECONDS + 60))
until [[ $(sinfo -h -o %T 2>/dev/null) == idle ]]; do
    ((SECONDS < deadline)) || fail "the node did not come up; see $WORK/slurmctld.log and $WORK/slurmd.log"
    sleep 1
done
say "cluster up: $HOST, $(nproc) CPUs"

cd "$ROOT"
submitted=$(bash examples/slurm/sweep-array.sbatch)
say "$submitted"
deadline=$((SECONDS + TIMEOUT))
while [[ -n $(squeue -h -o %i 2>/dev/null) ]]; do
    ((SECONDS < deadline)) || fail "jobs still queued after ${TIMEOUT}s: $(squeue -h)"
    if squeue -h -o %r | grep -q DependencyNeverSatisfied; then
        fail "a shard failed, so the merge never runs: $(tail -n 5 "$WORK"/logs/shard-*.log)"
    fi
    sleep 2
done
[[ -d $WORK/report ]] || fail "no merged report; logs: $(tail -n 5 "$WORK"/logs/*.log)"

read -ra sweep_args <<<"$SWEEP_ARGS"
"$SERVESIM" sweep "$SCENARIO" "${sweep_args[@]}" --quiet --out "$WORK/unsharded"
[[ "$(ls -A "$WORK/report")" == "$(ls -A "$WORK/unsharded")" ]] ||
    fail "merged and unsharded reports hold different files: $(ls -A "$WORK/report") vs $(ls -A "$WORK/unsharded")"
for file in $(ls -A "$WORK/unsharded"); do
    cmp "$WORK/unsharded/$file" "$WORK/report/$file" || fail "$file differs between merged and unsharded"
done
say "PASS: $SHARDS array tasks + merge == unsharded sweep, byte for byte ($WORK)"
