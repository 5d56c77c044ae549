//! The ways of getting model weights to many nodes: the strategies
//! `servesim distribute` compares and a fleet's cold starts use.
//!
//! Why here, below the scenarios: a fleet's `[fleet.cold_start]` names one
//! as the distribution scenarios do, and both are resolved against the
//! same names.

use serde::{de, Deserialize, Deserializer, Serialize};
use std::fmt;

/// How the weights reach the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The origin serves one node at a time (per origin).
    Sequential,
    /// The origin serves every node at once; its upload is shared max-min fairly.
    FanOut,
    /// A k-ary tree rooted at the origin; chunks are forwarded as soon as they arrive.
    Tree,
    /// BitTorrent-style: a coordinator matches peers; rarest chunk first; bounded upload slots.
    Swarm,
    /// A swarm that prefers same-rack peers and seeds every rack early.
    SwarmRackAware,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Sequential => "sequential",
            Strategy::FanOut => "fan-out",
            Strategy::Tree => "tree",
            Strategy::Swarm => "swarm",
            Strategy::SwarmRackAware => "swarm-rack-aware",
        }
    }
}

/// `strategy = "swarm"` or `strategy = ["tree", "swarm"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Strategies(pub Vec<Strategy>);

impl<'de> Deserialize<'de> for Strategies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OneOrMany;
        impl<'de> de::Visitor<'de> for OneOrMany {
            type Value = Strategies;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a strategy name or an array of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Strategies, E> {
                Strategy::deserialize(de::value::StrDeserializer::<E>::new(v)).map(|s| Strategies(vec![s]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Strategies, A::Error> {
                let mut all = Vec::new();
                while let Some(s) = seq.next_element::<Strategy>()? {
                    all.push(s);
                }
                Ok(Strategies(all))
            }
        }
        d.deserialize_any(OneOrMany)
    }
}
