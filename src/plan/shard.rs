//! Shards: one study split into `n` deterministic slices, so a sweep (or
//! any list of runnable points) too large for one machine runs as an
//! array job and is merged back into exactly the bytes of the whole run.
//!
//! Shard `i/n` (1-based) takes the contiguous slice of points
//! `[(i-1)*P/n, i*P/n)` (integer division) of a list of `P` points:
//! contiguous rather than strided so that merging is concatenation in
//! shard order, and the slices differ in size by at most one point. With
//! `n > P` some shards are empty; they still write their (empty) part, so
//! that a merge can prove every shard ran. Nothing here knows what a point
//! is: sweeps use it today, capacity plans can use it the same way.

use super::Refusal;
use std::ops::Range;

/// The most shards one study may be split into.
pub const MAX_SHARDS: u32 = 100_000;

/// Shard `index` of `count`, 1-based, as `--shard index/count` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

const HINT: &str = "write --shard I/N with 1 <= I <= N, e.g. --shard 2/8 (in a Slurm array: \
                    --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)";

impl Shard {
    /// Parses `I/N`.
    pub fn parse(text: &str) -> Result<Shard, Refusal> {
        let parsed = text.split_once('/').and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if (1..=count).contains(&index) && count <= MAX_SHARDS => Ok(Shard { index, count }),
            Some((_, count)) if count > MAX_SHARDS => {
                Err(Refusal::new(format!("`{text}`: at most {MAX_SHARDS} shards"), HINT))
            }
            _ => Err(Refusal::new(format!("`{text}`: expected I/N with 1 <= I <= N"), HINT)),
        }
    }

    /// The points of a list of `points` this shard runs.
    pub fn range(&self, points: usize) -> Range<usize> {
        let at = |k: u32| (k as u128 * points as u128 / u128::from(self.count)) as usize;
        at(self.index - 1)..at(self.index)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Checks that `parts` (each shard's number and where it was read) cover
/// shards `1..=count` exactly once, and returns them in shard order.
pub fn in_order<T>(count: u32, parts: &[(Shard, T)], source: impl Fn(&T) -> String) -> Result<Vec<&T>, Refusal> {
    let mut slots: Vec<Option<&(Shard, T)>> = vec![None; count as usize];
    for part in parts {
        let (shard, from) = part;
        if shard.count != count {
            return Err(Refusal::new(
                format!("{} is shard {shard}, but the others are split into {count}", source(from)),
                "merge the shards of one `--shard I/N` run, all with the same N",
            ));
        }
        let slot = &mut slots[(shard.index - 1) as usize];
        if let Some((_, first)) = slot {
            return Err(Refusal::new(
                format!("shard {shard} is given twice: {} and {}", source(first), source(from)),
                "give each shard's folder once",
            ));
        }
        *slot = Some(part);
    }
    let missing: Vec<String> =
        slots.iter().enumerate().filter(|(_, s)| s.is_none()).map(|(k, _)| (k + 1).to_string()).collect();
    if !missing.is_empty() {
        let shown = if missing.len() > 10 { format!("{}, ...", missing[..10].join(", ")) } else { missing.join(", ") };
        return Err(Refusal::new(
            format!("shards {shown} of {count} are missing ({} of {count} given)", count as usize - missing.len()),
            format!("run the missing shards (--shard {}/{count}, ...) and merge every shard's folder", missing[0]),
        ));
    }
    Ok(slots.into_iter().flatten().map(|(_, t)| t).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_contiguous_cover_everything_and_differ_by_at_most_one() {
        for points in [0usize, 1, 2, 5, 6, 7, 100] {
            for count in 1..=9u32 {
                let ranges: Vec<_> = (1..=count).map(|index| Shard { index, count }.range(points)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges.last().map(|r| r.end), Some(points));
                assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
                let sizes: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
            }
        }
    }

    #[test]
    fn parse_accepts_i_of_n_and_refuses_the_rest() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", "-1/2"] {
            assert!(Shard::parse(bad).unwrap_err().message.contains("expected I/N"), "{bad}");
        }
        assert!(Shard::parse("1/1000000").unwrap_err().message.contains("at most"));
    }

    #[test]
    fn cover_names_duplicates_and_missing_shards() {
        let s = |index| Shard { index, count: 3 };
        let name = |t: &&str| t.to_string();
        let ok = [(s(3), "c"), (s(1), "a"), (s(2), "b")];
        assert_eq!(in_order(3, &ok, name).unwrap(), [&"a", &"b", &"c"]);
        let twice = [(s(1), "a"), (s(1), "a2"), (s(2), "b"), (s(3), "c")];
        assert!(in_order(3, &twice, name).unwrap_err().message.contains("shard 1/3 is given twice: a and a2"));
        let missing = [(s(2), "b")];
        let err = in_order(3, &missing, name).unwrap_err();
        assert!(err.message.contains("shards 1, 3 of 3 are missing") && err.hint.contains("--shard 1/3"), "{err}");
    }
}
