//! Humane sizes and bandwidths for distribution scenarios and cold starts: `"140GB"`,
//! `"256MiB"`, `"25Gbps"`, `"3.125GB/s"`.
//!
//! Why a unit is required: a bare `25` could be bits or bytes, giga or gibi,
//! and a wrong guess is off by 8x or 7%. Sizes are whole bytes (`u64`);
//! bandwidths are bytes per second (`f64`, only ever used to compute rates,
//! never to order events). Decimal prefixes (k, M, G, T) are powers of 1000,
//! binary ones (Ki, Mi, Gi, Ti) powers of 1024; `bps`/`bit/s` are bits.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Bytes(pub u64);

/// A bandwidth in bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Bandwidth(pub f64);

/// Splits `"2.5 GB"` into `(2.5, "GB")`.
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().ok()?;
    value.is_finite().then_some((value, unit.trim()))
}

/// The multiplier of a prefix such as `G` or `Gi` (empty: 1).
fn prefix(p: &str) -> Option<f64> {
    Some(match p {
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    })
}

/// Parses a size: `"140GB"`, `"256MiB"`, `"4096B"`.
pub fn parse_bytes(text: &str) -> Result<Bytes, String> {
    let bad =
        || format!("`{text}` is not a size; expected a number with a unit, e.g. \"140GB\", \"256MiB\", \"4096B\"");
    let (value, unit) = number_and_unit(text).ok_or_else(bad)?;
    let scale = unit.strip_suffix('B').and_then(prefix).ok_or_else(bad)?;
    Ok(Bytes((value * scale).round() as u64))
}

/// Parses a bandwidth: `"25Gbps"`, `"100 Gbit/s"`, `"3.125GB/s"`.
pub fn parse_bandwidth(text: &str) -> Result<Bandwidth, String> {
    let bad = || {
        format!(
            "`{text}` is not a bandwidth; expected a number with a unit, e.g. \"25Gbps\" (bits) or \"3.125GB/s\" (bytes)"
        )
    };
    let (value, unit) = number_and_unit(text).ok_or_else(bad)?;
    let bits = unit.strip_suffix("bps").or_else(|| unit.strip_suffix("bit/s"));
    let bytes_per_s = match bits {
        Some(p) => prefix(p).map(|s| value * s / 8.0),
        None => unit.strip_suffix("B/s").and_then(prefix).map(|s| value * s),
    };
    bytes_per_s.map(Bandwidth).ok_or_else(bad)
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        match self.0 {
            n if n >= 1_000_000_000_000 => write!(f, "{}TB", b / 1e12),
            n if n >= 1_000_000_000 => write!(f, "{}GB", b / 1e9),
            n if n >= 1_000_000 => write!(f, "{}MB", b / 1e6),
            n => write!(f, "{n}B"),
        }
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Gbps", self.0 * 8.0 / 1e9)
    }
}

/// A TOML string, or a helpful error for a bare number.
struct Text(&'static str);

impl de::Visitor<'_> for Text {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a quoted {} with a unit", self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Err(E::custom(format!("`{v}` has no unit; write the {} as a quoted string with a unit", self.0)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.visit_i64(v as i64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Err(E::custom(format!("`{v}` has no unit; write the {} as a quoted string with a unit", self.0)))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_bytes(&d.deserialize_any(Text("size (e.g. \"140GB\")"))?).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_bandwidth(&d.deserialize_any(Text("bandwidth (e.g. \"25Gbps\")"))?).map_err(de::Error::custom)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for Bandwidth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_bandwidths() {
        assert_eq!(parse_bytes("140GB"), Ok(Bytes(140_000_000_000)));
        assert_eq!(parse_bytes("256MiB"), Ok(Bytes(256 << 20)));
        assert_eq!(parse_bytes("1.5 kB"), Ok(Bytes(1500)));
        assert!(parse_bytes("140").is_err());
        assert!(parse_bytes("140Gb").is_err());
        assert_eq!(parse_bandwidth("25Gbps"), Ok(Bandwidth(3.125e9)));
        assert_eq!(parse_bandwidth("100 Gbit/s"), Ok(Bandwidth(12.5e9)));
        assert_eq!(parse_bandwidth("2GB/s"), Ok(Bandwidth(2e9)));
        assert!(parse_bandwidth("25G").is_err());
        assert_eq!(Bytes(140_000_000_000).to_string(), "140GB");
        assert_eq!(Bandwidth(3.125e9).to_string(), "25Gbps");
    }
}
