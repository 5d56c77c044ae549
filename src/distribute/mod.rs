//! Model-weight distribution: how long until a new model version (F bytes)
//! is on every one of N serving nodes, from origins with limited upload —
//! by which strategy, and at what cost in origin egress and cross-rack and
//! cross-region traffic.
//!
//! Why it is here: cold starts and rollouts of a fleet are bounded by this
//! time, and the classic answer (a swarm beats client-server by a factor
//! that grows with N) is only useful with the real topology: oversubscribed
//! rack uplinks, WAN links, stragglers, crashes. Every run is compared with
//! the theoretical lower bound D_min = max(F/u_s, F/d_min, N·F/(u_s + Σu_i))
//! and checked never to beat it.
//!
//! ```text
//! scenario (TOML) -> load::load -> Plan -> Fleet (draws once) -> per strategy:
//!     sim::simulate(Planner = client_server | tree | swarm) over network (max-min flows)
//!   -> report::Summary (summary.json, summary.md, timeseries.csv, egress.csv, completion.svg)
//! ```
//!
//! Determinism: integer-ns time, events in `(time, seq)` order, named
//! streams (`nodes/bandwidth`, `faults/crashes`, `faults/checksum/<strategy>`,
//! `swarm/<strategy>`), ordered sets only. Same scenario + seed => same bytes.

pub mod client_server;
pub mod config;
pub mod fair;
pub mod fleet;
pub mod idset;
pub mod load;
pub mod network;
pub mod report;
pub mod sim;
pub mod swarm;
pub mod tree;

pub use config::Strategy;
pub use load::{load, Plan};
pub use report::{Distribution, StrategyRun, Summary};

use fleet::Fleet;
use rayon::prelude::*;

/// Runs one strategy on `fleet`.
pub fn run_strategy(plan: &Plan, fleet: &Fleet, strategy: Strategy) -> StrategyRun {
    let name = strategy.name();
    let world = match strategy {
        Strategy::Sequential | Strategy::FanOut => {
            let mut p = client_server::ClientServer::new(strategy == Strategy::Sequential, fleet.nodes, fleet.origins);
            sim::simulate(plan, fleet, &mut p, name)
        }
        Strategy::Tree => {
            let mut p = tree::Tree::new(fleet.nodes, fleet.origins, plan.tree_fanout);
            sim::simulate(plan, fleet, &mut p, name)
        }
        Strategy::Swarm | Strategy::SwarmRackAware => {
            let mut p = swarm::Swarm::new(plan, fleet, strategy == Strategy::SwarmRackAware, &format!("swarm/{name}"));
            sim::simulate(plan, fleet, &mut p, name)
        }
    };
    report::strategy_run(strategy, &world)
}

/// Seconds until each node held the verified file by `strategy` (None: it
/// failed), on the plan's nodes, file and network. The entry point for
/// callers that need a weight-load time, not a report.
pub fn node_completion_s(plan: &Plan, strategy: Strategy) -> Vec<Option<f64>> {
    run_strategy(plan, &Fleet::new(plan), strategy).done_s
}

/// Runs every strategy of the plan (in parallel; results in plan order).
pub fn run(plan: &Plan) -> Distribution {
    let fleet = Fleet::new(plan);
    let runs: Vec<StrategyRun> = plan.strategies.par_iter().map(|&s| run_strategy(plan, &fleet, s)).collect();
    report::distribution(plan, &fleet, runs)
}
