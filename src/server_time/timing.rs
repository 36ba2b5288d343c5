//! The W3C `Server-Timing` response header, read leniently: what a server says about its
//! own time is information, never a reason to fail the request.
//!
//! `Server-Timing: db;dur=53.2, app;dur=47.2;desc="a, b", cache;desc=hit`. Entries are
//! separated by commas outside quoted strings; parameters by semicolons. Only the first
//! `dur` of an entry counts (as the specification's processing model says); a `dur` that is
//! not a finite number ≥ 0 counts as absent. An entry whose name is not a token is skipped.

/// One entry of a `Server-Timing` header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric<'a> {
    /// The metric's name, as sent.
    pub name: &'a str,
    /// Its `dur` parameter in milliseconds; `None` when absent or not a valid duration.
    pub dur_ms: Option<f64>,
}

/// The entries of one `Server-Timing` header line, in order; malformed ones left out.
/// One pass over the bytes, allocating nothing: it runs for every response that carries
/// the header.
pub fn metrics(line: &str) -> Metrics<'_> {
    Metrics { line, at: 0 }
}

/// The iterator of [`metrics`].
#[derive(Debug, Clone)]
pub struct Metrics<'a> {
    line: &'a str,
    /// Where the next entry starts (or the separators before it).
    at: usize,
}

impl<'a> Iterator for Metrics<'a> {
    type Item = Metric<'a>;

    fn next(&mut self) -> Option<Metric<'a>> {
        let bytes = self.line.as_bytes();
        loop {
            self.at = skip(bytes, self.at, |b| b == b',' || is_space(b));
            if self.at >= bytes.len() {
                return None;
            }
            let start = self.at;
            self.at = skip(bytes, start, is_tchar);
            let name = start..self.at;
            match self.params(!name.is_empty()) {
                Some(dur) => {
                    return Some(Metric {
                        name: self.line.get(name).unwrap_or_default(),
                        dur_ms: dur.and_then(|d| self.line.get(d)).and_then(milliseconds),
                    });
                }
                // Malformed: on to the next entry.
                None => self.at = entry_end(bytes, self.at),
            }
        }
    }
}

impl Metrics<'_> {
    /// Reads `;name=value` parameters up to the end of the entry; `Some` with the first
    /// `dur`'s value when the entry is well formed (`named`: its name was a token).
    fn params(&mut self, named: bool) -> Option<Option<std::ops::Range<usize>>> {
        let bytes = self.line.as_bytes();
        let mut dur = None;
        loop {
            self.at = skip(bytes, self.at, is_space);
            match bytes.get(self.at) {
                None | Some(b',') if named => return Some(dur),
                Some(b';') if named => {}
                _ => return None,
            }
            self.at = skip(bytes, self.at + 1, is_space);
            let key = self.at..skip(bytes, self.at, is_tchar);
            self.at = skip(bytes, key.end, is_space);
            if bytes.get(self.at) != Some(&b'=') {
                continue;
            }
            self.at = skip(bytes, self.at + 1, is_space);
            let value = self.value();
            let is_dur = bytes[key].eq_ignore_ascii_case(b"dur");
            if dur.is_none() && is_dur {
                dur = Some(value);
            }
        }
    }

    /// A parameter's value, a token or a quoted string (without its quotes; escapes left
    /// in). An unterminated quoted string runs to the end of the line.
    fn value(&mut self) -> std::ops::Range<usize> {
        let bytes = self.line.as_bytes();
        if bytes.get(self.at) != Some(&b'"') {
            let start = self.at;
            self.at = skip(bytes, start, is_tchar);
            return start..self.at;
        }
        let start = self.at + 1;
        let end = closing_quote(bytes, start);
        self.at = (end + 1).min(bytes.len());
        start..end
    }
}

/// The first index from `at` whose byte does not satisfy `pass`.
fn skip(bytes: &[u8], mut at: usize, pass: impl Fn(u8) -> bool) -> usize {
    while bytes.get(at).is_some_and(|&b| pass(b)) {
        at += 1;
    }
    at
}

/// Where the quoted string whose content starts at `at` ends (its closing quote, or the
/// end of the line); a backslash escapes the next byte.
fn closing_quote(bytes: &[u8], mut at: usize) -> usize {
    while let Some(&b) = bytes.get(at) {
        match b {
            b'"' => return at,
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// The next comma from `at` outside quoted strings (or the end): where a malformed entry
/// ends.
fn entry_end(bytes: &[u8], mut at: usize) -> usize {
    while let Some(&b) = bytes.get(at) {
        match b {
            b',' => return at,
            b'"' => at = closing_quote(bytes, at + 1) + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 9110's `tchar`: what a metric or parameter name is made of. A table: it is asked
/// of nearly every byte of every header read.
fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = tchar_by_definition(b as u8);
        b += 1;
    }
    table
};

const fn tchar_by_definition(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// A number of milliseconds as a server writes it: finite and not negative.
pub fn milliseconds(text: &str) -> Option<f64> {
    let text = text.trim_ascii();
    let value = match plain_decimal(text) {
        Some(value) => value,
        None => text.parse().ok()?,
    };
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// Exact powers of ten, as doubles (every one up to 1e22 is exact).
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// `12.345`-style text (digits, at most one dot, at most 15 digits), parsed the fast way:
/// its digits as an integer below 2^53 and a power of ten are both exact doubles, so one
/// division gives the correctly rounded value, the same as `str::parse` (Clinger's fast
/// path). Anything else (exponents, signs, long digit strings) is `None`, for `parse`.
/// Servers write durations like `0.042` on every response: this is the hot path's case.
fn plain_decimal(text: &str) -> Option<f64> {
    let (mut mantissa, mut digits, mut decimals, mut dot) = (0u64, 0usize, 0usize, false);
    for &b in text.as_bytes() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
                decimals += usize::from(dot);
                if digits > 15 {
                    return None;
                }
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    (digits > 0).then(|| mantissa as f64 / POWERS_OF_TEN[decimals])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: reproducible cases, without reaching outside this leaf module.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    fn all(line: &str) -> Vec<(&str, Option<f64>)> {
        metrics(line).map(|m| (m.name, m.dur_ms)).collect()
    }

    #[test]
    fn reads_names_durations_and_descriptions() {
        assert_eq!(
            all(r#"db;dur=53.2, app;desc="a, b; c";dur=47, cache;desc=hit"#),
            vec![("db", Some(53.2)), ("app", Some(47.0)), ("cache", None)]
        );
        assert_eq!(all("total;dur=\"12.5\""), vec![("total", Some(12.5))]);
        assert_eq!(all("x ; DUR = 3 "), vec![("x", Some(3.0))]);
    }

    #[test]
    fn only_the_first_dur_counts_and_bad_ones_count_as_absent() {
        assert_eq!(all("a;dur=1;dur=2"), vec![("a", Some(1.0))]);
        for bad in ["-1", "NaN", "inf", "1e400", "abc", ""] {
            assert_eq!(all(&format!("a;dur={bad}")), vec![("a", None)], "{bad}");
        }
    }

    #[test]
    fn malformed_entries_are_skipped_not_fatal() {
        assert_eq!(
            all(r#", ;dur=1, "quoted";dur=2, ok;dur=3, bad name;dur=4, ,"#),
            vec![("ok", Some(3.0))]
        );
        // An unterminated quote swallows the rest of the line, nothing more.
        assert_eq!(
            all(r#"a;dur=1, b;desc="open, c;dur=2"#),
            vec![("a", Some(1.0)), ("b", None)]
        );
        assert_eq!(all(r#"a;desc="x\", y";dur=5"#), vec![("a", Some(5.0))]);
        assert!(all("").is_empty());
    }

    #[test]
    fn plain_decimals_parse_exactly_as_the_standard_parser_does() {
        let mut rng = Rng::new(11);
        for _ in 0..200_000 {
            let digits = 1 + (rng.next_u64() % 17) as usize;
            let mut text: String = (0..digits)
                .map(|_| char::from(b'0' + (rng.next_u64() % 10) as u8))
                .collect();
            if !rng.next_u64().is_multiple_of(4) {
                let at = (rng.next_u64() % (digits as u64 + 1)) as usize;
                text.insert(at, '.');
            }
            let standard: Option<f64> = text.parse().ok();
            assert_eq!(
                milliseconds(&text).map(f64::to_bits),
                standard.map(f64::to_bits),
                "{text}"
            );
            if let Some(fast) = plain_decimal(&text) {
                assert_eq!(Some(fast.to_bits()), standard.map(f64::to_bits), "{text}");
            }
        }
        for text in ["1e3", "+5", "-0", "0x10", "1.2.3", ".", "", " 7 ", "１"] {
            let standard = text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0);
            assert_eq!(milliseconds(text), standard, "{text:?}");
        }
    }

    /// Well-formed headers, generated: every entry comes back with its duration, whatever
    /// the spacing, parameter order and quoted descriptions full of separators.
    #[test]
    fn generated_headers_read_back_entry_by_entry() {
        let mut rng = Rng::new(5);
        let mut pick = |n: u64| (rng.next_u64() % n) as usize;
        for _ in 0..20_000 {
            let mut expected = Vec::new();
            let mut entries = Vec::new();
            for e in 0..pick(5) {
                let name = format!("{}{e}", ["db", "app", "x-y", "a.b", "INIT"][pick(5)]);
                let dur = (pick(100_000) as f64) / 1_000.0;
                let sp = [""; 1]
                    .iter()
                    .chain([" ", "\t "].iter())
                    .nth(pick(3))
                    .copied()
                    .unwrap_or("");
                let desc = format!(
                    "desc={sp}\"{}\"",
                    ["a, b", "x;y=z", "q\\\"uote", ""][pick(4)]
                );
                let dur_text = match pick(2) {
                    0 => format!("dur{sp}={sp}{dur}"),
                    _ => format!("DUR=\"{dur}\""),
                };
                let params = match pick(3) {
                    0 => format!("{sp};{sp}{dur_text}"),
                    1 => format!(";{desc};{dur_text}"),
                    _ => format!(";{dur_text}{sp};{desc}"),
                };
                entries.push(format!("{sp}{name}{params}"));
                expected.push((name, Some(dur)));
            }
            let line = entries.join(",");
            let read: Vec<(String, Option<f64>)> = metrics(&line)
                .map(|m| (m.name.to_owned(), m.dur_ms))
                .collect();
            assert_eq!(read, expected, "{line}");
        }
    }

    /// Any bytes at all: the reader ends, never panics, and yields only token names and
    /// durations a histogram can take.
    #[test]
    fn arbitrary_lines_are_read_without_panic_or_nonsense() {
        let alphabet = b"ad=u;r,\" 1.\\\t-e9";
        let mut rng = Rng::new(9);
        for _ in 0..50_000 {
            let len = (rng.next_u64() % 40) as usize;
            let line: String = (0..len)
                .map(|_| char::from(alphabet[(rng.next_u64() % alphabet.len() as u64) as usize]))
                .collect();
            for m in metrics(&line).take(100) {
                assert!(
                    !m.name.is_empty() && m.name.bytes().all(is_tchar),
                    "{line:?}"
                );
                assert!(
                    m.dur_ms.is_none_or(|d| d.is_finite() && d >= 0.0),
                    "{line:?}"
                );
            }
            assert!(metrics(&line).count() <= line.len(), "{line:?}");
        }
    }
}
