//! What the primary pool's GPUs did over the run, kept for its summary:
//! steps in flight, bytes moved, KV cache in use (time-integrated over the
//! measured interval, and its peak) and KV transfers between prefill and
//! decode replicas.
//!
//! Why apart from the driver: these are plain accumulators with their own
//! rules (what is measured, what is integrated), read once at the end.

use crate::metrics::latency::LatencyStat;
use crate::metrics::llm::KvTransferSummary;
use crate::scenario::LlmConfig;
use crate::time::{SimDuration, SimTime};

pub(crate) struct PoolUsage {
    /// Per replica: when its step in flight started, and its decode sequences.
    started: Vec<Option<(SimTime, u64)>>,
    /// Replicas running a step.
    busy: u32,
    /// Bytes each GPU moved in steps started in the measured interval.
    bytes_per_gpu: f64,
    /// KV-cache blocks in use since the last event, and over the run.
    kv_used: u64,
    kv_integral: f64,
    kv_peak: u64,
    kv_total: f64,
    /// KV transfers started in the measured interval.
    transfers: u64,
    transfer_bytes: u64,
    transfer_time: LatencyStat,
}

impl PoolUsage {
    pub(crate) fn new(llm: &LlmConfig) -> Self {
        PoolUsage {
            started: vec![None; llm.replicas as usize],
            busy: 0,
            bytes_per_gpu: 0.0,
            kv_used: 0,
            kv_integral: 0.0,
            kv_peak: 0,
            kv_total: (llm.replica.kv_blocks * u64::from(llm.replicas)).max(1) as f64,
            transfers: 0,
            transfer_bytes: 0,
            transfer_time: LatencyStat::default(),
        }
    }

    /// `replica` started a step of `decode_seqs` decode sequences now,
    /// moving `measured_bytes` per GPU if the step is measured.
    pub(crate) fn step_started(&mut self, now: SimTime, replica: u32, decode_seqs: u64, measured_bytes: Option<f64>) {
        if let Some(bytes) = measured_bytes {
            self.bytes_per_gpu += bytes;
        }
        self.started[replica as usize] = Some((now, decode_seqs));
        self.busy += 1;
    }

    /// `replica`'s step ended now: how long it took and its decode sequences.
    pub(crate) fn step_done(&mut self, now: SimTime, replica: u32) -> Option<(SimDuration, u64)> {
        self.busy -= 1;
        self.started[replica as usize].take().map(|(at, decode_seqs)| (now.since(at), decode_seqs))
    }

    /// Replicas running a step.
    pub(crate) fn busy(&self) -> u32 {
        self.busy
    }

    /// A measured KV transfer of `bytes` that spends `time` on the link.
    pub(crate) fn transfer(&mut self, bytes: u64, time: SimDuration) {
        self.transfers += 1;
        self.transfer_bytes += bytes;
        self.transfer_time.record(time.0);
    }

    /// Adds the KV blocks held since the last event over `measured_s`
    /// seconds of the measured interval.
    pub(crate) fn integrate_kv(&mut self, measured_s: f64) {
        self.kv_integral += self.kv_used as f64 * measured_s;
    }

    /// KV blocks in use from now on; `measured`: now is in the measured interval.
    pub(crate) fn hold_kv(&mut self, used: u64, measured: bool) {
        self.kv_used = used;
        if measured {
            self.kv_peak = self.kv_peak.max(used);
        }
    }

    /// The fraction of the pool's KV blocks in use now.
    pub(crate) fn kv_fraction(&self) -> f64 {
        self.kv_used as f64 / self.kv_total
    }

    pub(crate) fn kv_peak_utilization(&self) -> f64 {
        self.kv_peak as f64 / self.kv_total
    }

    /// The mean fraction of KV blocks in use over a measured span of `span_s`.
    pub(crate) fn kv_utilization_mean(&self, span_s: f64) -> f64 {
        if span_s > 0.0 {
            self.kv_integral / span_s / self.kv_total
        } else {
            0.0
        }
    }

    pub(crate) fn bytes_per_gpu(&self) -> f64 {
        self.bytes_per_gpu
    }

    /// The `kv_transfer` section, for a disaggregated pool.
    pub(crate) fn kv_transfer(&self, llm: &LlmConfig) -> Option<KvTransferSummary> {
        llm.disaggregation.map(|d| KvTransferSummary {
            prefill_replicas: d.prefill_replicas,
            decode_replicas: llm.replicas - d.prefill_replicas,
            link_bandwidth_bytes_per_s: d.link_bandwidth_bytes_per_s,
            link_latency_s: d.link_latency.as_secs_f64(),
            transfers: self.transfers,
            bytes: self.transfer_bytes,
            transfer_time: self.transfer_time.summary(),
        })
    }
}
