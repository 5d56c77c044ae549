//! Bounded reading of input files, so a wrong path (`/dev/zero`, a disk
//! image, a log) fails fast with a clear error instead of exhausting memory.
//!
//! The documented maxima:
//! - scenario, distribution-scenario, profile, saved-sweep and benchmark
//!   (aiconfigurator silicon CSV) files: [`TEXT_MAX_BYTES`] (64 MiB; the
//!   shipped ones are a few KiB, aiconfigurator's 5,221-run sample 1.8 MiB);
//! - trace files, Azure or measured runs: [`TRACE_MAX_BYTES`] (2 GiB, about
//!   50 million rows of the Azure format), each line at most
//!   [`TRACE_LINE_MAX_BYTES`];
//! - a `--set` / `--vary` key path: [`KEY_MAX_PARTS`] dotted parts and
//!   [`KEY_MAX_BYTES`] bytes (scenario keys are at most five levels deep).

use std::io::Read;
use std::path::Path;

/// Largest scenario, profile or saved-sweep file read.
pub const TEXT_MAX_BYTES: u64 = 64 << 20;
/// Largest trace file read.
pub const TRACE_MAX_BYTES: u64 = 2 << 30;
/// Longest line of a trace file (a real row is about 40 bytes).
pub const TRACE_LINE_MAX_BYTES: usize = 4096;
/// Most dotted parts in a `--set` key path.
pub const KEY_MAX_PARTS: usize = 16;
/// Longest `--set` key path, in bytes.
pub const KEY_MAX_BYTES: usize = 256;

/// A reader that fails (`InvalidData`, naming the limit) once more than
/// `limit` bytes are offered, rather than reading on or truncating.
pub struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
    what: &'static str,
    /// Longest line offered; the line being read (1-based) and its length.
    line_limit: u64,
    line: u64,
    line_len: u64,
}

impl<R: Read> Capped<R> {
    /// `what` names the kind of file in the error, e.g. "scenario files".
    pub fn new(inner: R, limit: u64, what: &'static str) -> Self {
        Capped { inner, left: limit, limit, what, line_limit: u64::MAX, line: 1, line_len: 0 }
    }

    /// Also fail once a line is longer than `bytes` (newline excluded), so
    /// a parser that buffers whole records stays bounded by the line.
    pub fn lines_at_most(mut self, bytes: u64) -> Self {
        self.line_limit = bytes;
        self
    }

    /// Follows the lines through `read`; only a line-capped reader pays.
    fn count_lines(&mut self, read: &[u8]) -> std::io::Result<()> {
        if self.line_limit == u64::MAX {
            return Ok(());
        }
        for (i, piece) in read.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                (self.line, self.line_len) = (self.line + 1, 0);
            }
            self.line_len += piece.len() as u64;
            if self.line_len > self.line_limit {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("line {} is longer than the {} bytes allowed in {}", self.line, self.line_limit, self.what),
                ));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            return match self.inner.read(&mut [0u8; 1])? {
                0 => Ok(0),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("larger than the {} limit on {}", size(self.limit), self.what),
                )),
            };
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        self.count_lines(&buf[..n])?;
        Ok(n)
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{} GiB", b >> 30),
        b => format!("{} MiB", b >> 20),
    }
}

/// A file that is not UTF-8 text: where its first invalid byte sits, so the
/// error can point at it (a stray Latin-1 character in a comment is common).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8 {
    /// 1-based line and byte column of the first invalid byte.
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected UTF-8 text, found an invalid byte at line {}, column {}", self.line, self.column)
    }
}

impl std::error::Error for NotUtf8 {}

impl NotUtf8 {
    /// The position carried by `error`, when it is a [`NotUtf8`] from [`read_text`].
    pub fn of(error: &std::io::Error) -> Option<NotUtf8> {
        error.get_ref().and_then(|e| e.downcast_ref::<NotUtf8>()).copied()
    }
}

/// The text of `path`, read through a [`Capped`] reader of `limit` bytes;
/// bytes that are not UTF-8 give an `InvalidData` error holding a [`NotUtf8`].
pub fn read_text(path: &Path, limit: u64, what: &'static str) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    Capped::new(std::fs::File::open(path)?, limit, what).read_to_end(&mut bytes)?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = valid.len() - valid.iter().rposition(|&b| b == b'\n').map_or(0, |nl| nl + 1) + 1;
        std::io::Error::new(std::io::ErrorKind::InvalidData, NotUtf8 { line, column })
    })
}

/// Why a `--set`-style key path is refused before any work is done on it,
/// or `None` when its size is sane. Checked in linear time.
pub fn key_too_large(key: &str) -> Option<String> {
    let parts = key.bytes().filter(|&b| b == b'.').count() + 1;
    if key.len() > KEY_MAX_BYTES || parts > KEY_MAX_PARTS {
        return Some(format!(
            "a key path has at most {KEY_MAX_PARTS} dotted parts and {KEY_MAX_BYTES} bytes; got {parts} parts \
             and {} bytes",
            key.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_reader_passes_up_to_the_limit_and_fails_beyond_it() {
        let mut ok = String::new();
        Capped::new(&b"abcd"[..], 4, "tests").read_to_string(&mut ok).expect("at the limit");
        assert_eq!(ok, "abcd");
        let err = Capped::new(&b"abcde"[..], 4, "tests").read_to_string(&mut String::new()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("limit on tests"), "{err}");
    }

    #[test]
    fn a_line_capped_reader_fails_on_the_first_line_beyond_its_limit() {
        let mut ok = String::new();
        Capped::new(&b"abc\r\nabcd\n"[..], 64, "tests").lines_at_most(4).read_to_string(&mut ok).expect("lines of 4");
        assert_eq!(ok, "abc\r\nabcd\n");
        let err = Capped::new(&b"ab\nabcde\n"[..], 64, "tests").lines_at_most(4).read_to_string(&mut String::new());
        let err = err.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("line 2 is longer than the 4 bytes allowed in tests"), "{err}");
        // A line split across reads is counted whole.
        let mut capped = Capped::new(&b"ab\nabcde\n"[..], 64, "tests").lines_at_most(4);
        let err = std::iter::repeat_with(|| capped.read(&mut [0u8; 2])).find(|r| !matches!(r, Ok(1..))).unwrap();
        assert!(err.unwrap_err().to_string().contains("line 2 is longer"), "two bytes at a time");
    }

    #[test]
    fn text_that_is_not_utf8_is_located_at_its_first_invalid_byte() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, b"[run]\n# caf\xe9\n").expect("write");
        let err = read_text(&path, 1024, "tests").unwrap_err();
        assert_eq!(NotUtf8::of(&err), Some(NotUtf8 { line: 2, column: 6 }));
    }

    #[test]
    fn key_paths_are_bounded_in_parts_and_bytes() {
        assert_eq!(key_too_large("frontdoor.admission.max_in_flight"), None);
        assert!(key_too_large(&vec!["a"; 5000].join(".")).is_some_and(|m| m.contains("5000 parts")));
        assert!(key_too_large(&"k".repeat(300)).is_some());
    }
}
