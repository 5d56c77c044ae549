//! `report.html`: one self-contained page per report, for people who open
//! a report folder in a browser rather than read Markdown.
//!
//! Why a small page builder instead of a template engine: every report kind
//! (a run, a sweep, a plan, a comparison) has the same parts — a title, the
//! question it answers, verdicts, tables and plots — and writes its tables
//! as Markdown already. [`Page`] renders that Markdown subset (headings,
//! quotes, lists, pipe tables, `code`, **bold**) so the page and
//! `summary.md` cannot disagree on a number, and inlines the SVG plots the
//! report renders anyway. The page is static: inline CSS, no scripts, no
//! network, no web fonts, so it reads the same from a CI artifact, a mail
//! attachment or a laptop offline. Rendering is O(size of the input).

use std::fmt::Write;

/// One pass/fail line at the top of a page (an SLO, an invariant).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub label: String,
    pub pass: bool,
    pub detail: String,
}

/// A page being built; [`Page::finish`] returns the HTML document.
#[derive(Debug, Clone)]
pub struct Page {
    title: String,
    body: String,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;\
max-width:1100px;padding:0 1rem;color:#1b1f24;line-height:1.45}\
h1{font-size:1.6rem;margin-bottom:.5rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #d0d7de}\
blockquote{margin:1rem 0;padding:.5rem 1rem;border-left:4px solid #8c959f;background:#f6f8fa;white-space:pre-wrap}\
table{border-collapse:collapse;margin:.75rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .6rem}\
th{background:#f6f8fa}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
code{background:#eff1f3;padding:0 .25rem;border-radius:3px}\
ul.verdicts{list-style:none;padding:0}ul.verdicts li{margin:.2rem 0}\
.pass,.fail{display:inline-block;min-width:3.5rem;text-align:center;font-weight:600;border-radius:3px;\
margin-right:.5rem;color:#fff}.pass{background:#1a7f37}.fail{background:#cf222e}\
figure{margin:1.5rem 0}figure svg{max-width:100%;height:auto;border:1px solid #d0d7de}\
figcaption{color:#57606a;font-size:.9rem}";

impl Page {
    pub fn new(title: &str) -> Self {
        let mut page = Page { title: title.to_string(), body: String::new() };
        let _ = writeln!(page.body, "<h1>{}</h1>", escape(title));
        page
    }

    /// The question the report answers (a scenario's header comment).
    pub fn question(&mut self, text: &str) -> &mut Self {
        if !text.trim().is_empty() {
            let _ = writeln!(self.body, "<blockquote>{}</blockquote>", inline(text));
        }
        self
    }

    /// Pass/fail lines under a heading; nothing when `verdicts` is empty.
    pub fn verdicts(&mut self, heading: &str, verdicts: &[Verdict]) -> &mut Self {
        if verdicts.is_empty() {
            return self;
        }
        let _ = writeln!(self.body, "<h2>{}</h2>\n<ul class=\"verdicts\">", escape(heading));
        for v in verdicts {
            let (class, word) = if v.pass { ("pass", "PASS") } else { ("fail", "FAIL") };
            let _ = writeln!(
                self.body,
                "<li><span class=\"{class}\">{word}</span><strong>{}</strong> {}</li>",
                escape(&v.label),
                inline(&v.detail)
            );
        }
        self.body.push_str("</ul>\n");
        self
    }

    /// Markdown as `summary.md` writes it: `#` headings, `>` quotes, `-`
    /// lists, pipe tables (`---:` right-aligns a column), paragraphs.
    pub fn markdown(&mut self, text: &str) -> &mut Self {
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            let block_end = |start: usize, prefix: &str| {
                (start..lines.len()).find(|&j| !lines[j].starts_with(prefix)).unwrap_or(lines.len())
            };
            if let Some((level, heading)) = heading(line) {
                let _ = writeln!(self.body, "<h{level}>{}</h{level}>", inline(heading));
                i += 1;
            } else if line.starts_with('>') {
                let end = block_end(i, ">");
                let quoted: Vec<&str> =
                    lines[i..end].iter().map(|l| l[1..].strip_prefix(' ').unwrap_or(&l[1..])).collect();
                self.question(&quoted.join("\n"));
                i = end;
            } else if line.starts_with("- ") {
                let end = block_end(i, "- ");
                self.body.push_str("<ul>\n");
                for item in &lines[i..end] {
                    let _ = writeln!(self.body, "<li>{}</li>", inline(&item[2..]));
                }
                self.body.push_str("</ul>\n");
                i = end;
            } else if line.starts_with('|') {
                let end = block_end(i, "|");
                self.pipe_table(&lines[i..end]);
                i = end;
            } else if line.trim().is_empty() {
                i += 1;
            } else {
                let end = (i..lines.len())
                    .find(|&j| {
                        lines[j].trim().is_empty()
                            || heading(lines[j]).is_some()
                            || lines[j].starts_with(['>', '|', '-'])
                    })
                    .unwrap_or(lines.len())
                    .max(i + 1);
                let _ = writeln!(self.body, "<p>{}</p>", inline(&lines[i..end].join("\n")));
                i = end;
            }
        }
        self
    }

    /// A table; columns whose cells are all numbers are right-aligned.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> &mut Self {
        let numeric: Vec<bool> = (0..header.len())
            .map(|c| !rows.is_empty() && rows.iter().all(|r| r.get(c).is_some_and(|v| is_number(v))))
            .collect();
        let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
        self.write_table(&header, rows, &numeric);
        self
    }

    /// An SVG plot, inlined, with a caption.
    pub fn figure(&mut self, caption: &str, svg: &str) -> &mut Self {
        let svg = svg.trim_start();
        let svg = match svg.strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").map_or(svg, |(_, after)| after.trim_start()),
            None => svg,
        };
        let _ = writeln!(self.body, "<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>", escape(caption));
        self
    }

    /// The whole document.
    pub fn finish(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n\
             <style>{STYLE}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
            escape(&self.title),
            self.body
        )
    }

    fn pipe_table(&mut self, lines: &[&str]) {
        let cells = |l: &str| -> Vec<String> {
            let inner = l.trim().trim_start_matches('|').trim_end_matches('|');
            inner.split('|').map(|c| c.trim().to_string()).collect()
        };
        let header = cells(lines[0]);
        let separator =
            lines.get(1).map(|l| cells(l)).filter(|c| c.iter().all(|x| x.chars().all(|ch| "-: ".contains(ch))));
        let numeric: Vec<bool> = match &separator {
            Some(sep) => (0..header.len()).map(|c| sep.get(c).is_some_and(|s| s.ends_with(':'))).collect(),
            None => vec![false; header.len()],
        };
        let body_from = if separator.is_some() { 2 } else { 1 };
        let rows: Vec<Vec<String>> = lines.iter().skip(body_from).map(|l| cells(l)).collect();
        self.write_table(&header, &rows, &numeric);
    }

    fn write_table(&mut self, header: &[String], rows: &[Vec<String>], numeric: &[bool]) {
        let class = |c: usize| if numeric.get(c).copied().unwrap_or(false) { " class=\"n\"" } else { "" };
        self.body.push_str("<table>\n<thead><tr>");
        for (c, h) in header.iter().enumerate() {
            let _ = write!(self.body, "<th{}>{}</th>", class(c), inline(h));
        }
        self.body.push_str("</tr></thead>\n<tbody>\n");
        for row in rows {
            self.body.push_str("<tr>");
            for (c, cell) in row.iter().enumerate() {
                let _ = write!(self.body, "<td{}>{}</td>", class(c), inline(cell));
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</tbody>\n</table>\n");
    }
}

/// A whole report page: `title`, the question, the verdicts, the Markdown
/// body and every SVG plot of `files`, by file name.
pub fn page(title: &str, question: &str, verdicts: &[Verdict], body: &str, files: &[(&str, Vec<u8>)]) -> String {
    let mut page = Page::new(title);
    page.question(question).verdicts("Verdicts", verdicts).markdown(body);
    for (name, bytes) in files.iter().filter(|(name, _)| name.ends_with(".svg")) {
        page.figure(name, &String::from_utf8_lossy(bytes));
    }
    page.finish()
}

/// A study's page (a sweep, a plan, a comparison) from the Markdown it
/// writes anyway: its first line, a `# ` heading, is the title; the rest
/// is the body.
pub fn study_page(markdown: &str, question: &str, verdicts: &[Verdict], files: &[(&str, Vec<u8>)]) -> String {
    let (first, rest) = markdown.split_once('\n').unwrap_or((markdown, ""));
    match first.strip_prefix("# ") {
        Some(title) => page(title, question, verdicts, rest, files),
        None => page("servesim report", question, verdicts, markdown, files),
    }
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    let rest = line.get(level..)?.strip_prefix(' ')?;
    (1..=4).contains(&level).then_some((level, rest))
}

fn is_number(text: &str) -> bool {
    text.trim_end_matches('%').parse::<f64>().is_ok()
}

/// Escapes `text`, then renders `code` spans and **bold**.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, piece) in text.split('`').enumerate() {
        match i % 2 {
            1 => {
                let _ = write!(out, "<code>{}</code>", escape(piece));
            }
            _ => {
                for (j, part) in escape(piece).split("**").enumerate() {
                    match j % 2 {
                        1 => {
                            let _ = write!(out, "<strong>{part}</strong>");
                        }
                        _ => out.push_str(part),
                    }
                }
            }
        }
    }
    out
}

/// HTML-escapes `text` for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_subset_renders() {
        let mut page = Page::new("a <b>");
        page.markdown("## Latency\n\n| | p99 |\n|---|---:|\n| TTFT | 1.5 |\n\n- one `x<y`\n- **two**\n\ntext\nmore\n");
        let html = page.finish();
        assert!(html.contains("<title>a &lt;b&gt;</title>"), "{html}");
        assert!(html.contains("<h2>Latency</h2>"), "{html}");
        assert!(html.contains("<th class=\"n\">p99</th>") && html.contains("<td class=\"n\">1.5</td>"), "{html}");
        assert!(html.contains("<li>one <code>x&lt;y</code></li>") && html.contains("<li><strong>two</strong></li>"));
        assert!(html.contains("<p>text\nmore</p>"), "{html}");
        assert!(!html.contains("<script"));
    }

    #[test]
    fn verdicts_and_figures() {
        let mut page = Page::new("t");
        page.verdicts("SLOs", &[Verdict { label: "ttft_p99".into(), pass: false, detail: "3 > 2".into() }]);
        page.figure("cdf", "<?xml version=\"1.0\"?>\n<svg></svg>");
        let html = page.finish();
        assert!(html.contains("<span class=\"fail\">FAIL</span><strong>ttft_p99</strong> 3 &gt; 2"), "{html}");
        assert!(html.contains("<figure>\n<svg></svg>\n<figcaption>cdf</figcaption>"), "{html}");
    }
}
