//! A population's requests: its arrivals, each with drawn sizes, the
//! region its user is near and the model it asks for.
//!
//! Streams: the first population draws its arrivals and sizes from the
//! streams a single-pool scenario's `[workload]` uses (`arrivals`,
//! `prompt-tokens`, `output-tokens`), so a fleet of one population offers
//! exactly the requests of the equivalent single-pool run; every other
//! population draws from its own (`populations/NAME/...`), so adding one
//! leaves the others' requests as they were. Regions and models are drawn
//! from streams of their own for every population.

use crate::engine::RngStreams;
use crate::scenario::{Population, RunConfig};
use crate::sim::limits::Arrivals;
use crate::workload::Arrival;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(super) struct Users<'a> {
    population: &'a Population,
    arrivals: Arrivals,
    /// The next arrival, scheduled on the clock.
    pending: Option<Arrival>,
    prompt_rng: ChaCha8Rng,
    output_rng: ChaCha8Rng,
    region_rng: ChaCha8Rng,
    model_rng: ChaCha8Rng,
}

/// A request as its population sends it.
pub(super) struct Sent {
    pub(super) arrival: Arrival,
    /// The region its user is near, and the model it asks for (indices).
    pub(super) region: usize,
    pub(super) model: usize,
}

impl<'a> Users<'a> {
    pub(super) fn new(index: usize, population: &'a Population, streams: &RngStreams, run: &RunConfig) -> Self {
        let own = |name: &str| streams.stream(&format!("populations/{}/{name}", population.name));
        let shared = |name: &str| if index == 0 { streams.stream(name) } else { own(name) };
        let mut arrivals = Arrivals::of(population.arrivals.clone(), shared("arrivals"), run);
        Users {
            population,
            pending: arrivals.next(),
            arrivals,
            prompt_rng: shared("prompt-tokens"),
            output_rng: shared("output-tokens"),
            region_rng: own("regions"),
            model_rng: own("models"),
        }
    }

    /// When the next request is due, if one is.
    pub(super) fn next_at(&self) -> Option<crate::time::SimTime> {
        self.pending.as_ref().map(|a| a.at)
    }

    /// The request due now, with its sizes, region and model drawn; the
    /// next one becomes pending.
    pub(super) fn send(&mut self) -> Option<Sent> {
        let mut arrival = self.pending.take()?;
        if let Some((prompt, output)) = &self.population.sizes {
            arrival.prompt_tokens = prompt.sample(&mut self.prompt_rng);
            arrival.output_tokens = output.sample(&mut self.output_rng);
        }
        let region = draw(&self.population.regions, &mut self.region_rng);
        let model = draw(&self.population.models, &mut self.model_rng);
        self.pending = self.arrivals.next();
        Some(Sent { arrival, region, model })
    }

    /// Stops this population's arrivals (the run's request cap was reached).
    pub(super) fn stop(&mut self) {
        self.pending = None;
    }
}

/// An index drawn from `(index, cumulative share)` pairs.
fn draw(mix: &[(usize, f64)], rng: &mut ChaCha8Rng) -> usize {
    if let [(only, _)] = mix {
        return *only;
    }
    let u: f64 = rng.random();
    let i = mix.partition_point(|&(_, c)| c <= u).min(mix.len() - 1);
    mix[i].0
}
