//! One swept key and its values: the grammar of `--vary KEY=ITEM,ITEM,...`.
//!
//! Each comma-separated item is either a value, passed to the scenario as
//! typed (as `--set KEY=VALUE` would be), or a range `LO..HI/STEP`, which
//! stands for `LO, LO+STEP, LO+2*STEP, ...` up to and including `HI` when
//! `HI` lands on a step (`1..10/4` is 1, 5, 9). A range is integer when its
//! three parts are integers, decimal when they are plain decimals (every
//! value is written with the most fraction digits of the three, so
//! `0.5..2/0.5` is 0.5, 1.0, 1.5, 2.0 — exact decimal steps, no
//! floating-point drift), and a duration range when they carry units
//! (`10ms..50ms/20ms` is 10ms, 30ms, 50ms). Ranges need `STEP > 0` and
//! `LO <= HI`. An item counts as a range only when both ends start like a
//! number and a `/STEP` follows, so a value such as `../traces/a.csv`
//! stays a value.
//!
//! Several axes form a grid (row-major: the last axis varies fastest); the
//! grid is bounded by [`MAX_POINTS`] so a typo (`1..1000000/1`) is refused
//! before anything is expanded.

use crate::plan::Refusal;
use crate::time::{parse_duration, SimDuration};
use serde::{Deserialize, Serialize};

/// The most points one sweep grid may have (all axes multiplied).
pub const MAX_POINTS: u64 = 10_000;

/// A key and the values it takes, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

const RANGE_HINT: &str = "write a range as LO..HI/STEP with STEP > 0 and LO <= HI, all integers (1..9/2), \
                          decimals (0.5..2/0.25) or durations (10ms..50ms/10ms)";

impl Axis {
    /// Parses `KEY=ITEM,ITEM,...`, expanding ranges; refuses an axis with
    /// more than [`MAX_POINTS`] values.
    pub fn parse(spec: &str) -> Result<Axis, Refusal> {
        let Some((key, list)) = spec.split_once('=') else {
            return Err(Refusal::new(
                "expected KEY.PATH=V1,V2,... or KEY.PATH=LO..HI/STEP",
                "e.g. --vary workload.rate_per_s=50,100,150 or --vary workload.rate_per_s=50..150/25",
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(Refusal::new("no key before `=`", "e.g. --vary servers.count=1..4/1"));
        }
        let mut values = Vec::new();
        for item in list.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            match Range::parse(item)? {
                Some(range) => {
                    if range.count.saturating_add(values.len() as u64) > MAX_POINTS {
                        return Err(too_many(range.count.saturating_add(values.len() as u64)));
                    }
                    values.extend(range.values());
                }
                None => values.push(item.to_string()),
            }
            if values.len() as u64 > MAX_POINTS {
                return Err(too_many(values.len() as u64));
            }
        }
        if values.is_empty() {
            return Err(Refusal::new("no values after `=`", "e.g. --vary workload.rate_per_s=50,100,150"));
        }
        Ok(Axis { key: key.to_string(), values })
    }
}

fn too_many(count: u64) -> Refusal {
    Refusal::new(
        format!("{count} points; a sweep has at most {MAX_POINTS}"),
        "use a larger STEP or fewer values (split a huge study into several sweeps)",
    )
}

/// The number of points of a grid of `axes`, or an error above [`MAX_POINTS`].
pub fn grid_size(axes: &[Axis]) -> Result<usize, Refusal> {
    let count = axes.iter().try_fold(1u64, |n, a| n.checked_mul(a.values.len() as u64)).unwrap_or(u64::MAX);
    if count > MAX_POINTS {
        return Err(Refusal::new(
            format!("the grid of {} has {count} points; a sweep has at most {MAX_POINTS}", keys(axes)),
            "vary fewer keys at once, or fewer values of each",
        ));
    }
    Ok(count as usize)
}

/// The values of grid point `index` (row-major: the last axis fastest).
pub fn grid_point(axes: &[Axis], mut index: usize) -> Vec<&str> {
    let mut point = vec![""; axes.len()];
    for (slot, axis) in point.iter_mut().zip(axes).rev() {
        *slot = &axis.values[index % axis.values.len()];
        index /= axis.values.len();
    }
    point
}

/// The keys of `axes` as a reader sees them: `a` x `b`.
pub fn keys(axes: &[Axis]) -> String {
    axes.iter().map(|a| format!("`{}`", a.key)).collect::<Vec<_>>().join(" x ")
}

/// An expanded-on-demand `LO..HI/STEP`: integer points `lo + k*step` (in
/// units of 10^-digits for decimals, nanoseconds for durations).
struct Range {
    lo: i128,
    step: i128,
    count: u64,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Decimal { digits: u32 },
    Duration,
}

/// Most fraction digits a decimal range may carry.
const MAX_DIGITS: u32 = 9;

impl Range {
    /// `Ok(None)` when `item` is not shaped like a range (it is a value).
    fn parse(item: &str) -> Result<Option<Range>, Refusal> {
        let Some((lo, rest)) = item.split_once("..") else { return Ok(None) };
        let Some((hi, step)) = rest.rsplit_once('/') else { return Ok(None) };
        let numeric = |s: &str| s.trim_start_matches('-').starts_with(|c: char| c.is_ascii_digit());
        if !numeric(lo) || !numeric(hi) {
            return Ok(None);
        }
        let bad = |why: String| Refusal::new(format!("range `{item}`: {why}"), RANGE_HINT);
        let parts = [lo.trim(), hi.trim(), step.trim()];
        let (kind, [lo, hi, step]) = if let Some(ints) = all(parts, |s| s.parse::<i64>().ok().map(i128::from)) {
            (Kind::Integer, ints)
        } else if let Some(digits) = decimal_digits(parts) {
            let scaled = all(parts, |s| scaled_decimal(s, digits)).ok_or_else(|| bad("a bound is too large".into()))?;
            (Kind::Decimal { digits }, scaled)
        } else if let Some(ns) = all(parts, duration_ns) {
            (Kind::Duration, ns)
        } else {
            return Err(bad("LO, HI and STEP must all be integers, all decimals or all durations".into()));
        };
        if step <= 0 {
            return Err(bad(format!("STEP must be > 0, got {}", parts[2])));
        }
        if lo > hi {
            return Err(bad(format!("LO must be <= HI, got {} > {}", parts[0], parts[1])));
        }
        let count = u64::try_from((hi - lo) / step + 1).unwrap_or(u64::MAX);
        if count > MAX_POINTS {
            return Err(too_many(count));
        }
        Ok(Some(Range { lo, step, count, kind }))
    }

    fn values(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.count).map(move |k| {
            let v = self.lo + self.step * i128::from(k);
            match self.kind {
                Kind::Integer => v.to_string(),
                Kind::Decimal { digits } => {
                    let scale = 10i128.pow(digits);
                    let sign = if v < 0 { "-" } else { "" };
                    let (whole, frac) = (v.abs() / scale, v.abs() % scale);
                    format!("{sign}{whole}.{frac:0width$}", width = digits as usize)
                }
                Kind::Duration => SimDuration(v as u64).to_string(),
            }
        })
    }
}

fn all(parts: [&str; 3], f: impl Fn(&str) -> Option<i128>) -> Option<[i128; 3]> {
    Some([f(parts[0])?, f(parts[1])?, f(parts[2])?])
}

/// The most fraction digits among `parts` if all are plain decimals
/// (`-?D+(.D+)?`, at most [`MAX_DIGITS`] after the point).
fn decimal_digits(parts: [&str; 3]) -> Option<u32> {
    let mut most = 0;
    for part in parts {
        let unsigned = part.strip_prefix('-').unwrap_or(part);
        let (whole, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(frac) || (unsigned.contains('.') && frac.is_empty()) {
            return None;
        }
        most = most.max(frac.len() as u32);
    }
    (most <= MAX_DIGITS).then_some(most)
}

/// A plain decimal as an integer count of 10^-digits.
fn scaled_decimal(text: &str, digits: u32) -> Option<i128> {
    let negative = text.starts_with('-');
    let unsigned = text.trim_start_matches('-');
    let (whole, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let padded = format!("{whole}{frac:0<width$}", width = digits as usize);
    let value: i128 = padded.parse().ok().filter(|_| whole.len() <= 20)?;
    Some(if negative { -value } else { value })
}

/// A duration with a unit (`250ms`, `1.5s`), in nanoseconds.
fn duration_ns(text: &str) -> Option<i128> {
    let has_unit = text.ends_with(|c: char| c.is_ascii_alphabetic() || c == 'µ');
    has_unit.then(|| parse_duration(text).ok()).flatten().map(|d| i128::from(d.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(spec: &str) -> Vec<String> {
        Axis::parse(spec).expect(spec).values
    }

    #[test]
    fn lists_and_ranges_expand_in_order() {
        assert_eq!(values("a=3, x ,1"), ["3", "x", "1"]);
        assert_eq!(values("a=1..10/4"), ["1", "5", "9"]);
        assert_eq!(values("a=1..9/4"), ["1", "5", "9"], "HI is included when it lands on a step");
        assert_eq!(values("a=-2..2/2,7"), ["-2", "0", "2", "7"]);
        assert_eq!(values("a=0.5..2/0.5"), ["0.5", "1.0", "1.5", "2.0"]);
        assert_eq!(values("a=0.1..0.3/0.1"), ["0.1", "0.2", "0.3"], "no floating-point drift");
        assert_eq!(values("a=1..1.25/0.125"), ["1.000", "1.125", "1.250"]);
        assert_eq!(values("a=10ms..50ms/20ms"), ["10ms", "30ms", "50ms"]);
        assert_eq!(values("a=1s..2s/500ms"), ["1s", "1500ms", "2s"]);
        assert_eq!(values("a=../traces/a.csv"), ["../traces/a.csv"], "a path is a value");
        assert_eq!(values("a=5..5/1"), ["5"]);
    }

    #[test]
    fn bad_ranges_are_refused_with_a_hint() {
        let err = |spec: &str| Axis::parse(spec).expect_err(spec).to_string();
        assert!(err("a=1..5/0").contains("STEP must be > 0, got 0"));
        assert!(err("a=5..1/1").contains("LO must be <= HI, got 5 > 1"));
        assert!(err("a=1..5ms/1").contains("must all be integers, all decimals or all durations"));
        assert!(err("a=0..1000000/1").contains("1000001 points; a sweep has at most 10000"));
        assert!(err("a=").contains("no values"));
        assert!(err("a").contains("expected KEY.PATH="));
        assert!(err("a=1e3..2e3/1").contains("hint: write a range as LO..HI/STEP"));
    }

    #[test]
    fn grids_are_row_major_and_bounded() {
        let axes = [Axis::parse("a=1,2").unwrap(), Axis::parse("b=x,y,z").unwrap()];
        assert_eq!(grid_size(&axes), Ok(6));
        let points: Vec<_> = (0..6).map(|i| grid_point(&axes, i).join("")).collect();
        assert_eq!(points, ["1x", "1y", "1z", "2x", "2y", "2z"]);
        let big = [Axis::parse("a=1..1000/1").unwrap(), Axis::parse("b=1..1000/1").unwrap()];
        assert!(grid_size(&big).unwrap_err().message.contains("1000000 points"));
    }
}
