//! `summary.md`: the same facts as `summary.json`, laid out for a person
//! reading a pull request or a capacity review.

use super::table::{latency_row, ms};
use crate::metrics::llm::LlmSummary;
use crate::metrics::Summary;
use std::fmt::Write;

fn check(ok: bool) -> &'static str {
    if ok {
        "holds"
    } else {
        "**VIOLATED**"
    }
}

/// The report's title: the scenario and its seed.
pub fn title(s: &Summary) -> String {
    format!("{} (seed {})", s.scenario, s.seed)
}

pub fn render(s: &Summary, question: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", title(s));
    if !question.is_empty() {
        for line in question.lines() {
            let _ = writeln!(o, "> {line}");
        }
        o.push('\n');
    }
    o + &body(s)
}

/// Everything below the title and the question.
pub fn body(s: &Summary) -> String {
    let mut o = String::new();
    let r = &s.run;
    let _ = writeln!(
        o,
        "Simulated {:.3} s ({} events); measured from {:.3} s over {:.3} s; {}.\n",
        r.end_s,
        r.events,
        r.measure_start_s,
        r.measure_span_s,
        if r.drained { "drained (every request finished)" } else { "cut off with requests in flight" }
    );
    let _ = writeln!(o, "## Requests\n\n| outcome | all | measured |\n|---|---:|---:|");
    for (name, n) in &s.requests.by_outcome {
        let m = s.requests.measured_by_outcome.get(name).copied().unwrap_or(0);
        let _ = writeln!(o, "| {name} | {n} | {m} |");
    }
    let _ = writeln!(o, "| **offered** | {} | {} |", s.requests.offered, s.requests.measured);
    if s.requests.in_flight_at_end > 0 {
        let _ = writeln!(o, "| in flight at end | {} | |", s.requests.in_flight_at_end);
    }
    let _ = writeln!(o, "\n## Latency of completed requests (ms)\n");
    let _ = writeln!(o, "| | count | mean | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|");
    latency_row(&mut o, "queue wait", &s.latency.queue_wait);
    latency_row(&mut o, "service", &s.latency.service);
    latency_row(&mut o, "end to end", &s.latency.end_to_end);
    let _ = writeln!(o, "\n{:.1}% of completed requests waited in a queue.\n", s.latency.waited_fraction * 100.0);
    let _ = writeln!(o, "## Throughput and GPUs\n");
    let _ = writeln!(
        o,
        "- offered {:.3} req/s, completed {:.3} req/s",
        s.throughput.offered_per_s, s.throughput.completed_per_s
    );
    match &s.llm {
        // A replica is `tp` GPUs; "busy" is the fraction of time a step ran,
        // not the work done while it ran (that is the bandwidth line).
        Some(llm) => {
            let _ = writeln!(
                o,
                "- {} replica(s) x TP {} = {} GPU(s); busy {:.1}% of the time; while busy, {:.1}% of peak HBM \
                 bandwidth",
                llm.replicas,
                llm.tp,
                llm.replicas * llm.tp,
                llm.gpu_busy_fraction * 100.0,
                llm.memory_bandwidth_utilization * 100.0
            );
        }
        None => {
            let _ = writeln!(
                o,
                "- {} GPU(s), busy {:.1}% of the time",
                s.servers.count,
                s.servers.utilization_mean * 100.0
            );
        }
    }
    let _ = writeln!(
        o,
        "- queue depth: mean {:.3}, max {}; in system: mean {:.3}",
        s.queue.depth_mean, s.queue.depth_max, s.queue.in_system_mean
    );
    let _ = writeln!(o, "- batches: {}, mean size {:.3}\n", s.batching.batches, s.batching.mean_size);
    if s.batching.size_histogram.len() > 1 {
        let _ = writeln!(o, "| batch size | batches |\n|---:|---:|");
        for b in &s.batching.size_histogram {
            let _ = writeln!(o, "| {} | {} |", b.size, b.count);
        }
        o.push('\n');
    }
    if let Some(llm) = &s.llm {
        llm_section(&mut o, llm);
    }
    if let Some(safety) = &s.safety {
        super::safety::markdown(&mut o, safety);
    }
    if let Some(fd) = &s.frontdoor {
        super::frontdoor::section(&mut o, fd);
    }
    if let Some(fleet) = &s.fleet {
        super::fleet::section(&mut o, fleet);
    }
    let l = &s.littles_law;
    let _ = writeln!(o, "## Checks\n");
    let _ = writeln!(
        o,
        "- Little's law: L = {:.6}, λW = {:.6} (λ = {:.3}/s, W = {:.6} s), relative error {:.2e}: {}",
        l.l,
        l.lambda_w,
        l.lambda_per_s,
        l.w_s,
        l.relative_error,
        check(l.holds)
    );
    let i = &s.invariants;
    let _ = writeln!(
        o,
        "- every offered request has exactly one outcome ({} outcomes, {} duplicates, {} lost): {}",
        i.terminal_outcomes,
        i.duplicate_outcomes,
        i.lost,
        check(i.every_request_one_outcome)
    );
    let _ = writeln!(o, "- no event scheduled in the past ({}): {}", i.events_in_past, check(i.events_in_past == 0));
    if let Some(safety) = &s.safety {
        super::safety::check_line(&mut o, safety);
    }
    o
}

fn llm_section(o: &mut String, l: &LlmSummary) {
    let _ = writeln!(
        o,
        "## LLM serving: {} on {} (tp {}), {} replica(s), {} batching\n",
        l.model, l.gpu, l.tp, l.replicas, l.policy
    );
    let _ = writeln!(
        o,
        "| (ms) | count | mean | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    latency_row(o, "TTFT", &l.ttft);
    latency_row(o, "TPOT", &l.tpot);
    latency_row(o, "TBT", &l.tbt);
    latency_row(o, "e2e / output token", &l.normalized_latency_s_per_token);
    o.push('\n');
    for c in &l.slo {
        let verdict = if c.met { "met" } else { "**MISSED**" };
        let _ = writeln!(o, "- SLO `{}` <= {} ms: p99 {} ms, {verdict}", c.metric, ms(c.target_s), ms(c.actual_s));
    }
    let _ = writeln!(
        o,
        "- goodput {:.3} req/s ({:.1}% of completions met every SLO)",
        l.goodput_per_s,
        l.goodput_fraction * 100.0
    );
    let _ = writeln!(
        o,
        "- tokens: {} prompt ({:.0}/s), {} output ({:.0}/s)",
        l.tokens.prompt, l.tokens.prompt_per_s, l.tokens.output, l.tokens.output_per_s
    );
    let _ = writeln!(
        o,
        "- GPU busy {:.1}%, memory-bandwidth utilization {:.1}%, KV cache in use {:.1}% (of {} tokens per replica)",
        l.gpu_busy_fraction * 100.0,
        l.memory_bandwidth_utilization * 100.0,
        l.kv_utilization_mean * 100.0,
        l.kv_capacity_tokens_per_replica
    );
    let m = &l.memory;
    let gb = |b: u64| b as f64 / 1e9;
    let _ = writeln!(
        o,
        "- GPU memory {:.1} GB = weights {:.1} GB + activation reserve {:.1} GB + KV cache {:.1} GB ({} blocks per replica); KV peak {:.1}%",
        gb(m.memory_bytes_per_gpu),
        gb(m.weights_bytes_per_gpu),
        gb(m.activation_reserve_bytes_per_gpu),
        gb(m.kv_cache_bytes_per_gpu),
        m.kv_blocks_per_replica,
        m.kv_peak_utilization * 100.0
    );
    let _ = writeln!(
        o,
        "- preemptions {}, recomputed tokens {}, swapped bytes {}",
        l.preemptions, l.recomputed_tokens, l.swapped_bytes
    );
    if let Some(k) = &l.kv_transfer {
        let _ = writeln!(
            o,
            "- KV transfer ({} prefill + {} decode replicas): {} transfers, {} bytes, {:.2} ms mean, {:.2} ms p99 on the link",
            k.prefill_replicas,
            k.decode_replicas,
            k.transfers,
            k.bytes,
            k.transfer_time.mean_s * 1e3,
            k.transfer_time.p99_s * 1e3
        );
    }
    if let Some(p) = &l.prefix_cache {
        let _ = writeln!(
            o,
            "- prefix cache ({}): hit rate {:.1}% ({} of {} admissions), {} prompt tokens' prefill skipped, {} evictions",
            p.eviction,
            p.hit_rate * 100.0,
            p.hits,
            p.lookups,
            p.cached_prompt_tokens,
            p.evictions
        );
    }
    let c = &l.cost;
    let _ = writeln!(
        o,
        "- cost: {:.3} GPU-hours x ${:.2} = ${:.2}; ${:.3} per million input tokens, ${:.3} per million output tokens; idle ${:.2}\n",
        c.gpu_hours,
        c.price_per_gpu_hour_usd,
        c.usd,
        c.usd_per_million_input_tokens,
        c.usd_per_million_output_tokens,
        c.idle_usd
    );
}
