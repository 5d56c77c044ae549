//! Reader for the Azure LLM inference trace format (Splitwise paper, 2023).
//! A scenario's trace may also be a measured run
//! ([`super::measured::read_records`] tells the two apart).
//!
//! # Why
//!
//! Synthetic arrival processes are useful, but capacity plans should also be
//! checked against real production load. Microsoft published two week-long
//! samples of its Azure LLM inference service (`code.csv` and
//! `conversation.csv`) alongside the Splitwise paper; this module turns such a
//! file into a list of [`TraceRecord`]s the workload layer can replay.
//!
//! # Format
//!
//! ```text
//! TIMESTAMP,ContextTokens,GeneratedTokens
//! 2023-11-16 18:17:03.9799600,4808,10
//! 2023-11-16 18:17:04.0319600,3180,8
//! ```
//!
//! * `TIMESTAMP` is `YYYY-MM-DD HH:MM:SS[.fffffff]` (a `T` separator is also
//!   accepted) with no time zone. The fraction is parsed digit by digit into
//!   integer nanoseconds, so offsets are exact: no floating point is involved.
//! * `ContextTokens` and `GeneratedTokens` are non-negative integers that fit
//!   in a `u32`.
//!
//! # Tolerances
//!
//! A UTF-8 byte-order mark, CRLF or LF line endings, a missing final newline,
//! blank lines, and whitespace around fields (and header names) are accepted.
//! Header names are matched case-sensitively. The seconds may carry a `.` and
//! 1 to 9 fraction digits, or none at all (real exports use 0 to 7). Fields
//! are plain comma-separated values as in every Azure export: CSV quoting is
//! not interpreted (a quoted field is reported as a bad value). Rows must be
//! sorted by time: a timestamp earlier than the previous row's is an error
//! rather than being silently reordered, because an unsorted file is almost
//! certainly not a real trace export.
//!
//! Every failure is a [`TraceError`] whose message is a single line naming
//! the file, the 1-based line number (the header is line 1), the column, the
//! offending value, what was expected, and a hint. No input makes this module
//! panic.
//!
//! # Complexity
//!
//! One streaming pass, line by line: O(n) time in the file size and O(rows)
//! memory for the returned vector (12 bytes per record plus vector slack), plus
//! one buffer as long as the longest line. Files over
//! [`crate::input::TRACE_MAX_BYTES`] and lines over
//! [`crate::input::TRACE_LINE_MAX_BYTES`] are errors, so a wrong path such
//! as `/dev/zero` fails at once. The 8,819-row `code.csv` parses in
//! about 2 ms in an optimised build.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};

/// The exact header row expected (modulo surrounding whitespace per name).
pub const TRACE_HEADER: [&str; 3] = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"];

const TIMESTAMP_EXPECTED: &str = "a timestamp `YYYY-MM-DD HH:MM:SS[.fffffff]` such as `2023-11-16 18:17:03.9799600`";

/// One request of a trace: when it arrived and how large it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceRecord {
    /// Arrival time minus the first row's arrival time, in exact nanoseconds.
    pub offset_ns: u64,
    /// `ContextTokens`: the prompt length in tokens.
    pub prompt_tokens: u32,
    /// `GeneratedTokens`: the response length in tokens.
    pub output_tokens: u32,
}

/// Everything that can go wrong while reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened or read.
    #[error("could not read trace file {}: {source}{}", path.display(), missing_hint(source))]
    Io {
        /// File being read.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The first non-blank line is not the expected header.
    #[error(
        "{}: header (first non-blank line): unexpected value {found:?}; expected `TIMESTAMP,ContextTokens,GeneratedTokens` \
         (is this an Azure LLM inference trace? column names are case-sensitive)",
        path.display()
    )]
    Header {
        /// File being read.
        path: PathBuf,
        /// The header line as found (fields re-joined with commas).
        found: String,
    },
    /// A data row has a bad field or the wrong number of fields.
    #[error(
        "{}: line {row}, column {column}: invalid value {value:?}; expected {expected}",
        path.display()
    )]
    Row {
        /// File being read.
        path: PathBuf,
        /// 1-based line number in the file (the header is line 1).
        row: u64,
        /// Column name, or `record` for a wrong field count.
        column: String,
        /// The offending value (the whole row for a wrong field count).
        value: String,
        /// What was expected instead, with a hint.
        expected: String,
    },
    /// The file has no data rows (it is empty or has only a header).
    #[error(
        "{}: trace has no data rows; expected a header (`TIMESTAMP,ContextTokens,GeneratedTokens`, or a \
         measured run's) followed by at least one row (was the file truncated?)",
        path.display()
    )]
    Empty {
        /// File being read.
        path: PathBuf,
    },
    /// A row's timestamp is earlier than the previous row's.
    #[error(
        "{}: line {row}, column TIMESTAMP: value {found:?} is earlier than the previous row's \
         {previous:?}; expected timestamps in non-decreasing order (a real trace export is \
         sorted by time; sort the file by TIMESTAMP first)",
        path.display()
    )]
    OutOfOrder {
        /// File being read.
        path: PathBuf,
        /// 1-based line number of the offending row.
        row: u64,
        /// The previous row's timestamp text.
        previous: String,
        /// The offending timestamp text.
        found: String,
    },
}

/// Where to look when a trace file is not there.
fn missing_hint(source: &std::io::Error) -> &'static str {
    match source.kind() {
        std::io::ErrorKind::NotFound => {
            " (check the path; the optional data directory ../shared/data must exist beside the repository)"
        }
        _ => "",
    }
}

/// Reads and parses the Azure trace file at `path`.
pub fn read_trace(path: &Path) -> Result<Vec<TraceRecord>, TraceError> {
    let file = std::fs::File::open(path).map_err(|source| TraceError::Io { path: path.to_path_buf(), source })?;
    parse_trace(crate::input::Capped::new(file, crate::input::TRACE_MAX_BYTES, "trace files"), path)
}

/// Parses a trace from any reader; `path_for_errors` is only used in messages.
///
/// Lines are split on `\n` by hand (rather than with the `csv` crate) so that
/// reported line numbers are exact for CRLF files and blank lines; fields are
/// plain comma-separated values, as in every Azure trace export (no quoting).
pub fn parse_trace<R: std::io::Read>(reader: R, path_for_errors: &Path) -> Result<Vec<TraceRecord>, TraceError> {
    let path = || path_for_errors.to_path_buf();
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    let mut row: u64 = 0;
    let mut seen_header = false;
    let mut out = Vec::new();
    let mut first_ns: Option<i128> = None;
    // Absolute time and text of the previous row, for the ordering check.
    let mut prev_ns = i128::MIN;
    let mut prev_text = String::new();

    loop {
        buf.clear();
        let longest = crate::input::TRACE_LINE_MAX_BYTES;
        let n = (&mut reader)
            .take(longest as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|source| TraceError::Io { path: path(), source })?;
        if n == 0 {
            break;
        }
        row += 1;
        if n > longest && buf.last() != Some(&b'\n') {
            return Err(TraceError::Row {
                path: path(),
                row,
                column: "record".into(),
                value: format!("{}...", String::from_utf8_lossy(&buf[..40])),
                expected: format!("a line of at most {longest} bytes (a trace row is about 40; is this a trace file?)"),
            });
        }
        let mut line = buf.as_slice();
        if row == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            continue;
        }

        if !seen_header {
            let found: Vec<String> = String::from_utf8_lossy(line).split(',').map(|f| f.trim().to_owned()).collect();
            if found.len() != TRACE_HEADER.len() || found.iter().zip(TRACE_HEADER).any(|(a, b)| a != b) {
                return Err(TraceError::Header { path: path(), found: found.join(",") });
            }
            seen_header = true;
            continue;
        }

        let bad = |column: &str, value: &[u8], expected: String| TraceError::Row {
            path: path(),
            row,
            column: column.to_owned(),
            value: String::from_utf8_lossy(value).into_owned(),
            expected,
        };
        let count = line.iter().filter(|&&b| b == b',').count() + 1;
        if count != TRACE_HEADER.len() {
            let expected = format!("3 comma-separated fields (TIMESTAMP,ContextTokens,GeneratedTokens), found {count}");
            return Err(bad("record", line, expected));
        }
        let mut raw = line.splitn(3, |&b| b == b',').map(<[u8]>::trim_ascii);
        let mut field = |i: usize| -> Result<&str, TraceError> {
            let bytes = raw.next().unwrap_or_default();
            std::str::from_utf8(bytes).map_err(|_| {
                let expected = "valid UTF-8 text (the file may be corrupt or not a CSV trace)";
                bad(TRACE_HEADER[i], bytes, expected.to_owned())
            })
        };
        let ts_text = field(0)?;
        let prompt_text = field(1)?;
        let output_text = field(2)?;

        let ts = parse_timestamp_ns(ts_text).map_err(|why| {
            let expected = format!("{TIMESTAMP_EXPECTED} ({why})");
            bad("TIMESTAMP", ts_text.as_bytes(), expected)
        })?;
        let prompt_tokens = parse_tokens(prompt_text).map_err(|e| bad("ContextTokens", prompt_text.as_bytes(), e))?;
        let output_tokens = parse_tokens(output_text).map_err(|e| bad("GeneratedTokens", output_text.as_bytes(), e))?;

        if ts < prev_ns {
            return Err(TraceError::OutOfOrder { path: path(), row, previous: prev_text, found: ts_text.to_owned() });
        }
        let base = *first_ns.get_or_insert(ts);
        let offset_ns = u64::try_from(ts - base).map_err(|_| {
            let expected = format!("{TIMESTAMP_EXPECTED} within ~584 years of the first row");
            bad("TIMESTAMP", ts_text.as_bytes(), expected)
        })?;
        prev_ns = ts;
        prev_text.clear();
        prev_text.push_str(ts_text);
        out.push(TraceRecord { offset_ns, prompt_tokens, output_tokens });
    }
    if out.is_empty() {
        return Err(TraceError::Empty { path: path() });
    }
    Ok(out)
}

/// Parses a token count: ASCII digits only, fitting in a `u32`.
fn parse_tokens(s: &str) -> Result<u32, String> {
    if s.starts_with('-') && s.len() > 1 {
        return Err("a non-negative integer token count (token counts cannot be negative)".into());
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a non-negative integer token count such as `4808`".into());
    }
    s.parse::<u32>().map_err(|_| format!("a token count no larger than {}", u32::MAX))
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f{0,9}]` into nanoseconds since 0001-01-01
/// (proleptic Gregorian, no time zone). Errors carry a short reason.
fn parse_timestamp_ns(s: &str) -> Result<i128, &'static str> {
    let (date, time) = s.split_once([' ', 'T']).ok_or("missing the space between date and time")?;
    let mut d = date.split('-');
    let (year, month, day) = match (d.next(), d.next(), d.next(), d.next()) {
        (Some(y), Some(m), Some(d), None) => (digits(y, 4, 4)?, digits(m, 1, 2)?, digits(d, 1, 2)?),
        _ => return Err("date must be YYYY-MM-DD"),
    };
    let date =
        i32::try_from(year).ok().and_then(|y| NaiveDate::from_ymd_opt(y, month, day)).ok_or("no such calendar date")?;

    let (hms, frac) = match time.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (time, None),
    };
    let mut t = hms.split(':');
    let (h, m, sec) = match (t.next(), t.next(), t.next(), t.next()) {
        (Some(h), Some(m), Some(s), None) => (digits(h, 1, 2)?, digits(m, 2, 2)?, digits(s, 2, 2)?),
        _ => return Err("time must be HH:MM:SS"),
    };
    if h > 23 || m > 59 || sec > 59 {
        return Err("hour, minute or second out of range");
    }
    let mut nanos: i128 = 0;
    if let Some(frac) = frac {
        if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err("fraction after `.` must be 1 to 9 digits");
        }
        for i in 0..9 {
            let digit = frac.as_bytes().get(i).map_or(0, |b| b - b'0');
            nanos = nanos * 10 + i128::from(digit);
        }
    }
    let days = i128::from(date.num_days_from_ce());
    let secs = days * 86_400 + i128::from(h * 3600 + m * 60 + sec);
    Ok(secs * 1_000_000_000 + nanos)
}

/// Parses `min..=max` ASCII digits as a `u32`.
fn digits(s: &str, min: usize, max: usize) -> Result<u32, &'static str> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("date and time fields must be digits of the right width");
    }
    s.parse().map_err(|_| "number out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "TIMESTAMP,ContextTokens,GeneratedTokens";

    fn parse(text: &[u8]) -> Result<Vec<TraceRecord>, TraceError> {
        parse_trace(text, Path::new("test.csv"))
    }

    fn rec(offset_ns: u64, prompt_tokens: u32, output_tokens: u32) -> TraceRecord {
        TraceRecord { offset_ns, prompt_tokens, output_tokens }
    }

    /// Parses `text`, expects a `Row` error and returns (row, column, value).
    fn row_err(text: &str) -> (u64, String, String) {
        match parse(text.as_bytes()) {
            Err(TraceError::Row { row, column, value, .. }) => (row, column, value),
            other => panic!("expected Row error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn parses_bom_crlf_without_final_newline() {
        let text = format!(
            "\u{feff}{HEADER}\r\n2023-11-16 18:17:03.9799600,4808,10\r\n\
             2023-11-16 18:17:04.0319600,3180,8\r\n2023-11-16 18:17:04.0781490,110,27"
        );
        let got = parse(text.as_bytes()).unwrap();
        assert_eq!(got, vec![rec(0, 4808, 10), rec(52_000_000, 3180, 8), rec(98_189_000, 110, 27)]);
    }

    #[test]
    fn parses_lf_whitespace_blank_lines_and_fraction_widths() {
        let text = "  TIMESTAMP , ContextTokens,GeneratedTokens  \n\
             2023-12-31 23:59:59 , 1 ,2\n\n\
             \t2023-12-31 23:59:59.5,3,4\n\
             2024-01-01 00:00:00.1234567,5,6\n\
             2024-01-01T00:00:00.123456789,0,0\n";
        let got = parse(text.as_bytes()).unwrap();
        assert_eq!(
            got,
            vec![rec(0, 1, 2), rec(500_000_000, 3, 4), rec(1_123_456_700, 5, 6), rec(1_123_456_789, 0, 0),]
        );
        // Leap day and equal timestamps are fine.
        let text = format!("{HEADER}\n2024-02-28 12:00:00,1,1\n2024-03-01 12:00:00,1,1\n2024-03-01 12:00:00,2,2");
        let got = parse(text.as_bytes()).unwrap();
        assert_eq!(got[1].offset_ns, 2 * 86_400 * 1_000_000_000);
        assert_eq!(got[2].offset_ns, got[1].offset_ns);
    }

    #[test]
    fn empty_inputs_are_empty_errors() {
        for text in ["", "\u{feff}", "\n\r\n", HEADER, "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"] {
            assert!(matches!(parse(text.as_bytes()), Err(TraceError::Empty { .. })), "{text:?}");
        }
    }

    #[test]
    fn bad_headers_are_header_errors() {
        for text in [
            "timestamp,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03,1,1",
            "TIMESTAMP,ContextTokens\n2023-11-16 18:17:03,1",
            "TIMESTAMP,ContextTokens,GeneratedTokens,Extra\n",
            "2023-11-16 18:17:03,1,1\n",
            "\u{fffd}\u{0}garbage",
        ] {
            match parse(text.as_bytes()) {
                Err(TraceError::Header { found, .. }) => {
                    assert!(!found.is_empty() || text.is_empty())
                }
                other => panic!("expected Header error for {text:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn wrong_field_count_names_the_line() {
        let (row, column, value) = row_err(&format!("{HEADER}\n2023-11-16 18:17:03,1,1\n2023-11-16 18:17:04,1\n"));
        assert_eq!((row, column.as_str(), value.as_str()), (3, "record", "2023-11-16 18:17:04,1"));
        let (row, column, _) = row_err(&format!("{HEADER}\r\n\r\n2023-11-16 18:17:03,1,1,9"));
        assert_eq!((row, column.as_str()), (3, "record"));
    }

    #[test]
    fn bad_token_counts() {
        for (field, column) in [
            ("-3", "ContextTokens"),
            ("abc", "ContextTokens"),
            ("", "ContextTokens"),
            ("+5", "ContextTokens"),
            ("1.5", "ContextTokens"),
            ("4294967296", "ContextTokens"),
        ] {
            let (row, col, value) = row_err(&format!("{HEADER}\n2023-11-16 18:17:03,{field},1"));
            assert_eq!((row, col.as_str(), value.trim()), (2, column, field));
        }
        let (_, col, value) = row_err(&format!("{HEADER}\n2023-11-16 18:17:03,7,-1"));
        assert_eq!((col.as_str(), value.as_str()), ("GeneratedTokens", "-1"));
        let err = parse(format!("{HEADER}\n2023-11-16 18:17:03,-3,1").as_bytes()).unwrap_err();
        assert!(err.to_string().contains("cannot be negative"), "{err}");
        assert_eq!(
            parse(format!("{HEADER}\n2023-11-16 18:17:03,4294967295,0").as_bytes()).unwrap()[0].prompt_tokens,
            u32::MAX
        );
    }

    #[test]
    fn bad_timestamps() {
        for ts in [
            "2023-11-16",
            "2023-11-16 18:17",
            "2023-02-30 18:17:03",
            "2023-11-16 24:00:00",
            "2023-11-16 18:60:00",
            "2023-11-16 18:17:60",
            "2023-11-16 18:17:03.",
            "2023-11-16 18:17:03.1234567890",
            "2023-11-16 18:17:03.12a",
            "23-11-16 18:17:03",
            "2023-11-16 18:17:03 +0000",
            "2023/11/16 18:17:03",
            "-023-11-16 18:17:03",
            "2023-11-16 +8:17:03",
            "1700000000",
        ] {
            let (row, col, value) = row_err(&format!("{HEADER}\n{ts},1,1"));
            assert_eq!((row, col.as_str(), value.as_str()), (2, "TIMESTAMP", ts));
        }
    }

    #[test]
    fn non_utf8_field_is_a_row_error() {
        let mut text = format!("{HEADER}\n2023-11-16 18:17:03,1,1\n2023-11-16 18:17:04,").into_bytes();
        text.extend_from_slice(b"\xff\xfe,1");
        match parse(&text) {
            Err(e @ TraceError::Row { row: 3, .. }) => {
                assert!(e.to_string().contains("UTF-8"), "{e}")
            }
            other => panic!("got {other:?}"),
        }
    }

    #[test]
    fn out_of_order_is_rejected() {
        let text = format!("{HEADER}\n2023-11-16 18:17:03.5,1,1\n2023-11-16 18:17:04,1,1\n2023-11-16 18:17:03.9,1,1\n");
        match parse(text.as_bytes()) {
            Err(e @ TraceError::OutOfOrder { row: 4, .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("2023-11-16 18:17:04") && msg.contains("sorted"), "{msg}");
            }
            other => panic!("got {other:?}"),
        }
    }

    #[test]
    fn missing_file_is_io_error_with_hint() {
        let err = read_trace(Path::new("/definitely/not/here/code.csv")).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, TraceError::Io { .. }));
        assert!(msg.contains("could not read") && msg.contains("../shared/data"), "{msg}");
    }

    #[test]
    fn messages_are_one_line_with_location() {
        let cases = [
            format!("{HEADER}\n2023-11-16 18:17:03,\"1\n2\",1"),
            format!("{HEADER}\n\"2023-11-16\n18:17:03\",1,1"),
            "a\nb".to_owned(),
            String::new(),
            format!("{HEADER}\n2023-11-16 18:17:04,1,1\n2023-11-16 18:17:03,1,1"),
        ];
        for text in cases {
            let msg = parse(text.as_bytes()).unwrap_err().to_string();
            assert!(!msg.contains('\n') && msg.starts_with("test.csv"), "{msg}");
        }
        let msg = parse(format!("{HEADER}\n2023-11-16 18:17:03,x,1").as_bytes()).unwrap_err().to_string();
        assert!(msg.contains("line 2, column ContextTokens") && msg.contains("\"x\""), "{msg}");
    }

    #[test]
    fn garbage_never_panics() {
        // Deterministic xorshift so failures are reproducible.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid =
            format!("\u{feff}{HEADER}\r\n2023-11-16 18:17:03.9799600,4808,10\r\n2023-11-16 18:17:04.0319600,3180,8");
        let alphabet = b"0123456789-:. ,\r\n\"\xef\xbb\xbf\xffT+a";
        for i in 0..3000 {
            let bytes: Vec<u8> = if i % 2 == 0 {
                let len = (next() % 80) as usize;
                (0..len).map(|_| next() as u8).collect()
            } else {
                let mut b = valid.clone().into_bytes();
                for _ in 0..(1 + next() % 4) {
                    let pos = (next() as usize) % b.len();
                    b[pos] = alphabet[(next() as usize) % alphabet.len()];
                }
                b
            };
            if let Err(e) = parse(&bytes) {
                assert!(!e.to_string().contains('\n'));
            }
        }
    }

    #[test]
    fn reads_real_azure_code_trace_if_present() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/azure-llm-2023/code.csv");
        if !path.exists() {
            eprintln!("skipping: optional data file {} not found", path.display());
            return;
        }
        let records = read_trace(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(records.len(), 8_819);
        assert_eq!(records[0], rec(0, 4808, 10));
        assert_eq!(records[1].offset_ns, 52_000_000);
        assert!(records.windows(2).all(|w| w[0].offset_ns <= w[1].offset_ns));
    }
}
