//! A measured run: per-request send times, lengths, and the latencies the
//! serving engine was measured at.
//!
//! # Why
//!
//! A planner trusts the simulator after seeing it replay a run they
//! measured: the same arrivals and lengths through the same engine
//! configuration, the simulated TTFT, TPOT and latency distributions next
//! to the measured ones (`servesim fidelity SCENARIO --measured RUN.csv`).
//! The same file is a trace: `workload.trace = "run.csv"` replays its
//! arrivals and lengths in any scenario ([`read_records`] tells it from an
//! Azure trace by the header).
//!
//! # Format
//!
//! ```text
//! arrival_s,prompt_tokens,output_tokens,ttft_ms,tpot_ms,latency_ms
//! 0.000,512,128,41.3,11.92,1555.2
//! 0.731,2048,64,180.4,12.40,961.6
//! ```
//!
//! One completed request per row, columns in any order, others ignored
//! (a request id, say):
//! * `arrival_s`: when the client sent the request, in seconds from any
//!   origin (a plain decimal of up to 9 fraction digits is read exactly,
//!   other notations to the nearest nanosecond); rows
//!   may come in any order (a benchmark tool writes them as requests
//!   finish) and are replayed in send order.
//! * `prompt_tokens`, `output_tokens`: integers >= 1.
//! * `ttft_ms`: send to first token; `latency_ms`: send to last token
//!   (>= `ttft_ms`). Both > 0.
//! * `tpot_ms` (optional column; may be empty): mean time per output token
//!   after the first. When absent it is derived as
//!   `(latency_ms - ttft_ms) / (output_tokens - 1)`, servesim's own
//!   definition; a request with one output token has none.
//!
//! Failed requests are left out of the file: the replay offers what
//! completed. Every failure is a [`TraceError`] naming the file, the
//! 1-based line (the header is line 1), the column, the value and what was
//! expected; no input makes this module panic. Files are read through the
//! same size cap as traces ([`crate::input::TRACE_MAX_BYTES`]).

use super::trace::{TraceError, TraceRecord};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The columns a measured run must have (`tpot_ms` is optional).
pub const MEASURED_COLUMNS: [&str; 5] = ["arrival_s", "prompt_tokens", "output_tokens", "ttft_ms", "latency_ms"];

/// One measured request, times in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeasuredRequest {
    /// Send time minus the earliest send, exact nanoseconds.
    pub offset_ns: u64,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    pub ttft_s: f64,
    /// None for a one-token answer.
    pub tpot_s: Option<f64>,
    pub latency_s: f64,
}

/// Whether the file's first non-blank line is a measured run's header
/// (names `arrival_s`); false for anything else, unreadable files included
/// (the trace reader then reports them).
fn is_measured(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else { return false };
    let mut reader = BufReader::new(file.take(crate::input::TRACE_LINE_MAX_BYTES as u64 * 4));
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        let text = line.trim_start_matches('\u{feff}').trim();
        if !text.is_empty() {
            return text.split(',').any(|f| f.trim() == "arrival_s");
        }
        line.clear();
    }
    false
}

/// The send times and lengths of a scenario's trace file: a measured run
/// (its header names `arrival_s`), else an Azure trace.
pub fn read_records(path: &Path) -> Result<Vec<TraceRecord>, TraceError> {
    if is_measured(path) {
        read_measured(path).map(|run| trace_records(&run))
    } else {
        super::trace::read_trace(path)
    }
}

/// Reads a measured run, in send order.
pub fn read_measured(path: &Path) -> Result<Vec<MeasuredRequest>, TraceError> {
    let file = std::fs::File::open(path).map_err(|source| TraceError::Io { path: path.to_path_buf(), source })?;
    let capped = crate::input::Capped::new(file, crate::input::TRACE_MAX_BYTES, "trace files")
        .lines_at_most(crate::input::TRACE_LINE_MAX_BYTES as u64);
    parse_measured(capped, path)
}

/// Parses a measured run from any reader; `path` is only used in messages.
pub fn parse_measured<R: Read>(reader: R, path: &Path) -> Result<Vec<MeasuredRequest>, TraceError> {
    let bad = |row: u64, column: &str, value: &str, expected: String| TraceError::Row {
        path: path.to_path_buf(),
        row,
        column: column.to_owned(),
        value: value.to_owned(),
        expected,
    };
    let mut csv = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(reader);
    let header = csv
        .headers()
        .map_err(|e| bad(1, "header", "", format!("a CSV header naming {} ({e})", MEASURED_COLUMNS.join(", "))))?
        .clone();
    let col = |name: &str| header.iter().position(|h| h.trim_start_matches('\u{feff}') == name);
    let mut index = [0usize; 5];
    for (slot, name) in index.iter_mut().zip(MEASURED_COLUMNS) {
        *slot = col(name).ok_or_else(|| {
            let expected = format!(
                "a header naming {} (and optionally tpot_ms); a measured run, one completed request per row",
                MEASURED_COLUMNS.join(", ")
            );
            bad(1, name, &header.iter().collect::<Vec<_>>().join(","), expected)
        })?;
    }
    let tpot_col = col("tpot_ms");
    let mut rows: Vec<(i128, MeasuredRequest)> = Vec::new();
    for record in csv.records() {
        let record = record.map_err(|e| {
            let (row, message) = (e.position().map_or(0, |p| p.line()), e.to_string());
            match e.into_kind() {
                csv::ErrorKind::Io(source) => TraceError::Io { path: path.to_path_buf(), source },
                _ => bad(row, "record", "", format!("a row with as many fields as the header ({message})")),
            }
        })?;
        let row = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("");
        let [arrival_i, prompt_i, output_i, ttft_i, latency_i] = index;
        let arrival = field(arrival_i);
        let arrival_ns =
            parse_seconds_ns(arrival).map_err(|why| bad(row, "arrival_s", arrival, format!("seconds >= 0 ({why})")))?;
        let tokens = |i: usize, name: &str| -> Result<u32, TraceError> {
            let text = field(i);
            text.parse::<u32>()
                .ok()
                .filter(|&v| v >= 1)
                .ok_or_else(|| bad(row, name, text, format!("an integer token count from 1 to {}", u32::MAX)))
        };
        let (prompt_tokens, output_tokens) = (tokens(prompt_i, "prompt_tokens")?, tokens(output_i, "output_tokens")?);
        let millis = |i: usize, name: &str| -> Result<f64, TraceError> {
            let text = field(i);
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| bad(row, name, text, "milliseconds > 0, such as `41.3`".into()))
        };
        let (ttft_ms, latency_ms) = (millis(ttft_i, "ttft_ms")?, millis(latency_i, "latency_ms")?);
        if latency_ms < ttft_ms {
            let expected = format!("at least ttft_ms ({ttft_ms}): the last token cannot come before the first");
            return Err(bad(row, "latency_ms", field(latency_i), expected));
        }
        let tpot_ms = match tpot_col.map(field).filter(|t| !t.is_empty()) {
            _ if output_tokens < 2 => None,
            Some(text) => Some(text.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| {
                bad(row, "tpot_ms", text, "milliseconds >= 0, or empty to derive it from latency and TTFT".into())
            })?),
            None => Some((latency_ms - ttft_ms) / f64::from(output_tokens - 1)),
        };
        let request = MeasuredRequest {
            offset_ns: 0,
            prompt_tokens,
            output_tokens,
            ttft_s: ttft_ms / 1e3,
            tpot_s: tpot_ms.map(|t| t / 1e3),
            latency_s: latency_ms / 1e3,
        };
        rows.push((arrival_ns, request));
    }
    let Some(first) = rows.iter().map(|(ns, _)| *ns).min() else {
        return Err(TraceError::Empty { path: path.to_path_buf() });
    };
    rows.sort_by_key(|(ns, _)| *ns);
    Ok(rows.into_iter().map(|(ns, r)| MeasuredRequest { offset_ns: (ns - first) as u64, ..r }).collect())
}

/// The run as a trace: send times and lengths.
pub fn trace_records(requests: &[MeasuredRequest]) -> Vec<TraceRecord> {
    requests
        .iter()
        .map(|r| TraceRecord { offset_ns: r.offset_ns, prompt_tokens: r.prompt_tokens, output_tokens: r.output_tokens })
        .collect()
}

/// Parses seconds into nanoseconds, at most about 292 years: a plain
/// decimal (`12`, `0.731`, up to 9 fraction digits) exactly, any other
/// non-negative number (`1.5e-3`) rounded to the nanosecond.
fn parse_seconds_ns(s: &str) -> Result<i128, &'static str> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (s.contains('.') && !digits(frac)) {
        return match s.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 && v * 1e9 < u64::MAX as f64 => Ok((v * 1e9).round() as i128),
            Ok(v) if v.is_finite() && v >= 0.0 => Err("too large"),
            _ => Err("a non-negative number of seconds such as `0.731`"),
        };
    }
    if frac.len() > 9 {
        return Err("at most 9 digits after the point");
    }
    let seconds: i128 = whole.parse::<u64>().map_err(|_| "too large")?.into();
    let nanos = frac.bytes().chain(std::iter::repeat(b'0')).take(9).fold(0i128, |n, b| n * 10 + i128::from(b - b'0'));
    let ns = seconds * 1_000_000_000 + nanos;
    if ns > i128::from(u64::MAX) {
        return Err("too large");
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<MeasuredRequest>, TraceError> {
        parse_measured(text.as_bytes(), Path::new("run.csv"))
    }

    #[test]
    fn rows_are_replayed_in_send_order_with_tpot_derived_when_absent() {
        let run = parse(
            "id,arrival_s,prompt_tokens,output_tokens,ttft_ms,latency_ms\nb,1.05e1,100,11,50,150\na,10.25,7,1,20,20\n",
        )
        .unwrap();
        assert_eq!(run.len(), 2);
        assert_eq!((run[0].offset_ns, run[0].prompt_tokens, run[0].tpot_s), (0, 7, None));
        assert_eq!(run[1].offset_ns, 250_000_000);
        assert!((run[1].tpot_s.unwrap() - 0.010).abs() < 1e-12 && (run[1].latency_s - 0.150).abs() < 1e-12);
        assert_eq!(
            trace_records(&run)[1],
            TraceRecord { offset_ns: 250_000_000, prompt_tokens: 100, output_tokens: 11 }
        );
    }

    #[test]
    fn bad_rows_name_the_line_the_column_and_what_was_expected() {
        let head = "arrival_s,prompt_tokens,output_tokens,ttft_ms,tpot_ms,latency_ms\n";
        for (row, column, needle) in [
            ("-1,10,10,5,1,20", "arrival_s", "non-negative number"),
            ("1e3x,10,10,5,1,20", "arrival_s", "non-negative number"),
            ("0.1234567891,10,10,5,1,20", "arrival_s", "9 digits"),
            ("1,0,10,5,1,20", "prompt_tokens", "from 1"),
            ("1,10,x,5,1,20", "output_tokens", "from 1"),
            ("1,10,10,0,1,20", "ttft_ms", "> 0"),
            ("1,10,10,5,-1,20", "tpot_ms", ">= 0"),
            ("1,10,10,50,1,20", "latency_ms", "at least ttft_ms"),
        ] {
            let text = format!("{head}0,10,10,5,1,20\n{row}\n");
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains("run.csv: line 3, column ") && e.contains(column) && e.contains(needle), "{row}: {e}");
        }
        let e = parse("arrival_s,prompt_tokens,output_tokens,latency_ms\n0,1,1,2\n").unwrap_err().to_string();
        assert!(e.contains("line 1, column ttft_ms") && e.contains("a header naming"), "{e}");
        let e = parse(head).unwrap_err().to_string();
        assert!(e.contains("no data rows"), "{e}");
        let e = parse(&format!("{head}0,10,10,5,1\n")).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("as many fields"), "{e}");
    }

    /// A file that is not a run (one endless line) fails at the line
    /// limit instead of buffering it whole.
    #[test]
    fn a_line_past_the_trace_line_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.csv");
        let long = "9".repeat(crate::input::TRACE_LINE_MAX_BYTES + 1);
        std::fs::write(&path, format!("arrival_s,prompt_tokens,output_tokens,ttft_ms,latency_ms\n{long}\n")).unwrap();
        let e = read_measured(&path).unwrap_err().to_string();
        assert!(
            e.contains("run.csv") && e.contains("line 2 is longer than the 4096 bytes allowed in trace files"),
            "{e}"
        );
    }
}
