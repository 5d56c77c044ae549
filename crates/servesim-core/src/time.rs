//! Simulated time: integer nanoseconds, never floating point.
//!
//! Why integers: event order must not depend on rounding, so that the same
//! scenario and seed give byte-identical results on every machine. A `u64`
//! of nanoseconds covers ~584 years of simulated time, far beyond any run.
//! Conversions to seconds (`as_secs_f64`) exist only for reporting and for
//! sampling continuous distributions, whose results are rounded once, here.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant on the simulated clock, in nanoseconds since the run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(pub u64);

/// A span of simulated time, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDuration(pub u64);

const NANOS_PER_SEC: f64 = 1e9;

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);

    pub fn from_secs_f64(secs: f64) -> SimDuration {
        if secs.is_nan() || secs <= 0.0 {
            SimDuration(0)
        } else {
            // Saturating cast: absurdly long samples clamp instead of wrapping.
            SimDuration((secs * NANOS_PER_SEC).round() as u64)
        }
    }

    pub fn from_millis(ms: u64) -> SimDuration {
        SimDuration(ms.saturating_mul(1_000_000))
    }

    pub fn from_secs(s: u64) -> SimDuration {
        SimDuration(s.saturating_mul(1_000_000_000))
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        self.0 = self.0.saturating_add(d.0);
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.since(earlier)
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            write!(f, "0s")
        } else if ns.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", ns / 1_000_000_000)
        } else if ns.is_multiple_of(1_000_000) {
            write!(f, "{}ms", ns / 1_000_000)
        } else if ns.is_multiple_of(1_000) {
            write!(f, "{}us", ns / 1_000)
        } else {
            write!(f, "{ns}ns")
        }
    }
}

/// Parses a humane duration: `"250ms"`, `"2.5s"`, `"1h 30m"`, `"0"`.
///
/// A single number with a unit may carry a decimal fraction (`"0.5ms"`);
/// compound forms are delegated to `humantime`. Units: ns, us (or µs), ms,
/// s, m/min, h. A bare `0` is accepted; other bare numbers are rejected
/// because their unit would be a guess.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(SimDuration::ZERO);
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ns" => Some(1.0),
        "us" | "µs" => Some(1e3),
        "ms" => Some(1e6),
        "s" => Some(1e9),
        "m" | "min" => Some(60e9),
        "h" => Some(3600e9),
        _ => None,
    };
    if let (Some(scale), Ok(value)) = (scale, num.parse::<f64>()) {
        if value.is_finite() {
            return Ok(SimDuration((value * scale).round() as u64));
        }
    }
    humantime::parse_duration(t).map(|d| SimDuration(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))).map_err(|_| {
        format!(
            "`{text}` is not a duration; expected a number with a unit, e.g. \"250ms\", \"2.5s\", \"2m\", \"1h 30m\""
        )
    })
}

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map_err(de::Error::custom)
    }
}

impl Serialize for SimDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl schemars::JsonSchema for SimDuration {
    fn schema_name() -> String {
        "Duration".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        schema.metadata().description = Some(
            "A humane duration: a number with a unit (ns, us, ms, s, m, h), e.g. \"250ms\", \"2.5s\", \"1h 30m\""
                .into(),
        );
        schema.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_humane_durations() {
        assert_eq!(parse_duration("250ms"), Ok(SimDuration(250_000_000)));
        assert_eq!(parse_duration("2.5s"), Ok(SimDuration(2_500_000_000)));
        assert_eq!(parse_duration("0.5 ms"), Ok(SimDuration(500_000)));
        assert_eq!(parse_duration("2m"), Ok(SimDuration(120_000_000_000)));
        assert_eq!(parse_duration("1h 30m"), Ok(SimDuration(5_400_000_000_000)));
        assert_eq!(parse_duration("0"), Ok(SimDuration(0)));
        assert_eq!(parse_duration("10us"), Ok(SimDuration(10_000)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("-5ms").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn display_round_trips() {
        for text in ["0s", "250ms", "3s", "15us", "7ns"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d.to_string(), text);
        }
    }

    #[test]
    fn time_arithmetic_saturates() {
        assert_eq!(SimTime(5).since(SimTime(9)), SimDuration::ZERO);
        assert_eq!(SimTime::MAX + SimDuration(1), SimTime::MAX);
        assert_eq!(SimDuration::from_secs_f64(-1.0), SimDuration::ZERO);
        assert_eq!(SimDuration::from_secs_f64(1.5e-9), SimDuration(2));
    }
}
