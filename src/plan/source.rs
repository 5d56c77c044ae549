//! Where a study's points come from: one scenario file with the user's
//! `--set` overrides, `--profiles` folder and `--seed`. Sweeps, plans,
//! compares and trade-offs load every point through a [`Source`], adding
//! only the keys the point varies, so each point sees the same profiles,
//! overrides and seed as the scenario it was derived from.

// A scenario error ends the study before anything runs; it happens at
// most once, so it travels unboxed, as in the scenario module.
#![allow(clippy::result_large_err)]

use crate::scenario::{self, Scenario, ScenarioError};
use std::path::{Path, PathBuf};

/// A scenario file as the user asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    /// The user's `--set` overrides, applied before any point's own.
    pub overrides: Vec<String>,
    /// The `--profiles` folder, searched before the scenario's own and the built-in profiles.
    pub profiles: Option<PathBuf>,
    /// `--seed`: replaces the scenario's `seed` when given.
    pub seed: Option<u64>,
}

impl Source {
    /// The scenario file at `path` as written: no overrides, its own profiles and seed.
    pub fn new(path: &Path) -> Self {
        Source { path: path.to_path_buf(), overrides: Vec::new(), profiles: None, seed: None }
    }

    /// The user's overrides, then `extra`.
    pub fn overrides_with(&self, extra: &[String]) -> Vec<String> {
        self.overrides.iter().chain(extra).cloned().collect()
    }

    /// Reads and loads the scenario with `extra` overrides after the user's.
    pub fn load(&self, extra: &[String]) -> Result<Scenario, ScenarioError> {
        self.from_text(&scenario::read(&self.path, "scenarios/")?, extra)
    }

    /// Like [`Source::load`], for the file's text already in memory.
    pub fn from_text(&self, text: &str, extra: &[String]) -> Result<Scenario, ScenarioError> {
        let all = self.overrides_with(extra);
        let mut s = scenario::from_text_with_profiles(text, &self.path, &all, self.profiles.as_deref())?;
        if let Some(seed) = self.seed {
            s.seed = seed;
        }
        Ok(s)
    }
}
