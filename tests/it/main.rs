//! servesim's integration tests: one binary, one module per behaviour.
//!
//! One binary instead of one per file: the library and its dependencies
//! are linked once, not once per file, which is most of the suite's build
//! time. Run one module with `cargo test --release --test it MODULE`
//! (e.g. `llm_behaviour`), one test with its full name.
//!
//! Shared pieces live in `support` (paths, the real binary, the Azure
//! trace, snapshots at their committed paths) and `llm_harness` (a
//! deterministic driver for the LLM core).

mod support;

mod llm_harness;

mod bad_input;
mod bench_fidelity;
mod bench_fit;
mod check_gate;
mod cli;
mod compare;
mod distribute_bad_input;
mod distribute_scenarios;
mod distribute_theory;
mod engine_step;
mod failure_theory;
mod fleet;
mod fleet_autoscale;
mod fleet_failure_kinds;
mod fleet_failures;
mod fleet_month;
mod fleet_outage;
mod fleet_report;
mod frontdoor;
mod frontdoor_bad_input;
mod guards;
mod html_report;
mod input_limits;
mod live;
mod llm_bad_input;
mod llm_behaviour;
mod llm_theory;
mod measured_replay;
mod mutate_scenarios;
mod plan;
mod profiles_anywhere;
mod queueing_theory;
mod report_folders;
mod safety_sim;
mod safety_stage;
mod shipped_scenarios;
mod step_time;
mod summary_reference;
mod swarm;
mod sweep;
