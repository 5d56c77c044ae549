"""Prints servesim's and inference-lab's metrics for the same workload side
by side (a Markdown table), from servesim's summary.json (argv[1]) and
inference-lab's `-o` metrics JSON (argv[2]), flagging every difference
beyond 10%. The reasons for the flagged ones are in
docs/measurements/performance.md ("Peers")."""

import json
import sys


def main(servesim_path, lab_path):
    s = json.load(open(servesim_path))
    lab = json.load(open(lab_path))
    llm = s["llm"]
    span = s["run"]["end_s"]
    lat = lab["latency_metrics"]
    ours = {
        "completed": s["requests"]["by_outcome"]["completed"],
        "simulated span (s)": span,
        "throughput (req/s)": s["requests"]["by_outcome"]["completed"] / span,
        "output tokens/s": s["requests"]["output_tokens"] / span,
        "TTFT p50 (s)": llm["ttft"]["p50_s"],
        "TTFT p99 (s)": llm["ttft"]["p99_s"],
        "TPOT mean (ms)": 1000 * llm["tpot"]["mean_s"],
        "TPOT p99 (ms)": 1000 * llm["tpot"]["p99_s"],
        "preemptions": llm["preemptions"],
        "KV use, mean": llm["kv_utilization_mean"],
    }
    theirs = {
        "completed": lab["requests"]["completed"],
        "simulated span (s)": lab["simulation"]["end_time_secs"],
        "throughput (req/s)": lab["throughput_metrics"]["requests_per_sec"],
        "output tokens/s": lab["throughput_metrics"]["output_tokens_per_sec"],
        "TTFT p50 (s)": lat["ttft_ms"]["p50"] / 1000,
        "TTFT p99 (s)": lat["ttft_ms"]["p99"] / 1000,
        "TPOT mean (ms)": lat["per_token_ms"]["mean"],
        "TPOT p99 (ms)": lat["per_token_ms"]["p99"],
        "preemptions": lab["preemptions"]["total"],
        "KV use, mean": lab["utilization"]["avg_kv_cache_util"],
    }
    print("| metric | servesim | inference-lab | servesim / inference-lab |")
    print("|---|---:|---:|---:|")
    for key, a in ours.items():
        b = theirs[key]
        ratio = a / b if b else float("nan")
        flag = " (beyond 10%)" if abs(ratio - 1) > 0.10 else ""
        print(f"| {key} | {a:,.3f} | {b:,.3f} | {ratio:.3f}{flag} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
