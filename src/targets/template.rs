//! Request templates: `{{iteration}}`, `{{lane}}`, `{{seq}}`, `{{uuid}}`,
//! `{{random(MIN,MAX)}}`, `{{now_ms}}` and, in flow steps, `{{NAME}}` for a value an earlier
//! step captured, in a target's URL path, header values and body.
//!
//! Parsed once when the targets are loaded (a bad one is a config error with its place);
//! rendered per request only for targets that use them, so plain targets keep their
//! prepared request.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// One part of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Iteration,
    Lane,
    Seq,
    Uuid,
    Random(i64, i64),
    NowMs,
    /// A captured value, by its slot in the flow's captures; percent-encoded in a URL.
    Captured {
        slot: usize,
        in_url: bool,
    },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

/// What a request's template values come from.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// The request's iteration.
    pub iteration: u64,
    /// Its lane.
    pub lane: u32,
    /// The endpoint's request number.
    pub seq: u64,
    /// Random bits for `uuid` and `random` (from the lane's generator).
    pub random: [u64; 2],
    /// The values captured so far in a flow instance, by slot (empty outside flows).
    pub captured: &'a [String],
}

impl Values<'_> {
    /// Values for checking a template when the targets are loaded (captures render empty).
    pub const SAMPLE: Values<'static> = Values {
        iteration: 0,
        lane: 0,
        seq: 0,
        random: [0, 0],
        captured: &[],
    };
}

const NAMES: &str = "iteration, lane, seq, uuid, random(MIN,MAX), now_ms";

impl Template {
    /// Parses `text`; `None` when it has no `{{`. The error is `(byte offset, problem)`.
    pub fn parse(text: &str) -> Result<Option<Template>, (usize, String)> {
        Template::parse_in(text, &Scope::default())
    }

    /// Parses `text` where `scope` says which captured names may be used.
    pub fn parse_in(text: &str, scope: &Scope<'_>) -> Result<Option<Template>, (usize, String)> {
        if !text.contains("{{") {
            return Ok(None);
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let at = text.len() - rest.len() + open;
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let inner = &rest[open + 2..];
            let close = inner
                .find("}}")
                .ok_or((at, "`{{` is not closed by `}}`".to_owned()))?;
            pieces.push(piece(inner[..close].trim(), scope).map_err(|p| (at, p))?);
            rest = &inner[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Some(Template(pieces)))
    }

    /// Writes the template with `values` into `out`.
    pub fn render_into(&self, values: &Values, out: &mut String) {
        for piece in &self.0 {
            let _ = match piece {
                Piece::Text(text) => {
                    out.push_str(text);
                    Ok(())
                }
                Piece::Iteration => write!(out, "{}", values.iteration),
                Piece::Lane => write!(out, "{}", values.lane),
                Piece::Seq => write!(out, "{}", values.seq),
                Piece::Uuid => write_uuid(out, values.random),
                Piece::Random(lo, hi) => {
                    // In i128: the span of i64::MIN..=i64::MAX does not fit an i64.
                    let span = (i128::from(*hi) - i128::from(*lo) + 1) as u128;
                    let offset = u128::from(values.random[0]) % span;
                    write!(out, "{}", i128::from(*lo) + offset as i128)
                }
                Piece::NowMs => write!(
                    out,
                    "{}",
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis())
                ),
                Piece::Captured { slot, in_url } => {
                    let value = values.captured.get(*slot).map_or("", String::as_str);
                    match in_url {
                        true => percent_encode(value, out),
                        false => out.push_str(value),
                    }
                    Ok(())
                }
            };
        }
    }

    /// The template rendered with `values`.
    pub fn render(&self, values: &Values) -> String {
        let mut out = String::new();
        self.render_into(values, &mut out);
        out
    }
}

/// Which captured names a template may use, and where it stands.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// Every name the flow captures, in slot order.
    pub captures: &'a [String],
    /// By slot: whether an earlier step captures it (only those have a value when this
    /// step is sent).
    pub available: &'a [bool],
    /// The template is a URL's path and query: captured values are percent-encoded.
    pub in_url: bool,
}

impl Scope<'_> {
    fn captured(&self, name: &str) -> Result<Option<Piece>, String> {
        let Some(slot) = self.captures.iter().position(|c| c == name) else {
            return Ok(None);
        };
        match self.available.get(slot) {
            Some(true) => Ok(Some(Piece::Captured {
                slot,
                in_url: self.in_url,
            })),
            _ => Err(format!(
                "`{{{{{name}}}}}` is captured by this step or a later one: a step can only use values that earlier steps captured"
            )),
        }
    }
}

fn piece(name: &str, scope: &Scope<'_>) -> Result<Piece, String> {
    if let Some(captured) = scope.captured(name)? {
        return Ok(captured);
    }
    let usable: Vec<&str> = scope
        .captures
        .iter()
        .zip(scope.available)
        .filter(|(_, available)| **available)
        .map(|(name, _)| name.as_str())
        .collect();
    let captured_here = match usable.is_empty() {
        true => String::new(),
        false => format!("; captured by earlier steps: {}", usable.join(", ")),
    };
    Ok(match name {
        "iteration" => Piece::Iteration,
        "lane" => Piece::Lane,
        "seq" => Piece::Seq,
        "uuid" => Piece::Uuid,
        "now_ms" => Piece::NowMs,
        _ => match name
            .strip_prefix("random(")
            .and_then(|r| r.strip_suffix(')'))
        {
            Some(args) => {
                let bounds: Vec<&str> = args.split(',').map(str::trim).collect();
                match bounds.as_slice() {
                    [lo, hi] => match (lo.parse::<i64>(), hi.parse::<i64>()) {
                        (Ok(lo), Ok(hi)) if lo <= hi => Piece::Random(lo, hi),
                        _ => {
                            return Err(format!(
                                "`{{{{{name}}}}}`: write random(MIN,MAX) with integers, MIN <= MAX"
                            ));
                        }
                    },
                    _ => {
                        return Err(format!(
                            "`{{{{{name}}}}}`: random takes two integers, random(MIN,MAX)"
                        ));
                    }
                }
            }
            None => {
                return Err(format!(
                    "unknown template value `{{{{{name}}}}}`: use one of {NAMES}, or in a flow step a name an earlier step captures{captured_here}"
                ));
            }
        },
    })
}

/// Writes `value` with every byte outside RFC 3986's unreserved set percent-encoded, so a
/// captured id with `/`, `?` or spaces stays one path segment.
fn percent_encode(value: &str, out: &mut String) {
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
}

/// A version-4 UUID from 128 random bits (the `uuid` crate sets the version and variant).
fn write_uuid(out: &mut String, bits: [u64; 2]) -> std::fmt::Result {
    write!(out, "{}", uuid_from(bits))
}

/// A version-4 UUID from 128 random bits.
pub fn uuid_from(bits: [u64; 2]) -> uuid::Uuid {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&bits[0].to_be_bytes());
    bytes[8..].copy_from_slice(&bits[1].to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: Values = Values {
        iteration: 7,
        lane: 2,
        seq: 23,
        random: [0x1234_5678_9abc_def0, 0xfedc_ba98_7654_3210],
        captured: &[],
    };

    #[test]
    fn renders_every_value() {
        let t = Template::parse("/items/{{seq}}?i={{iteration}}&l={{ lane }}&r={{random(10,12)}}")
            .unwrap()
            .unwrap();
        let out = t.render(&VALUES);
        assert!(out.starts_with("/items/23?i=7&l=2&r=1"), "{out}");
        let r: i64 = out.rsplit('=').next().unwrap().parse().unwrap();
        assert!((10..=12).contains(&r));
        let uuid = Template::parse("{{uuid}}")
            .unwrap()
            .unwrap()
            .render(&VALUES);
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4", "version 4: {uuid}");
        assert!(
            matches!(&uuid[19..20], "8" | "9" | "a" | "b"),
            "variant: {uuid}"
        );
        let now: u128 = Template::parse("{{now_ms}}")
            .unwrap()
            .unwrap()
            .render(&VALUES)
            .parse()
            .unwrap();
        assert!(now > 1_700_000_000_000);
    }

    #[test]
    fn captured_values_render_by_slot_and_are_encoded_in_urls() {
        let names = ["item_id".to_owned(), "etag".to_owned()];
        let earlier = [true, false];
        let scope = Scope {
            captures: &names,
            available: &earlier,
            in_url: true,
        };
        let t = Template::parse_in("/items/{{item_id}}", &scope)
            .unwrap()
            .unwrap();
        let captured = ["a b/c".to_owned(), String::new()];
        let values = Values {
            captured: &captured,
            ..VALUES
        };
        assert_eq!(t.render(&values), "/items/a%20b%2Fc");
        let body = Template::parse_in(
            "{\"id\":\"{{item_id}}\"}",
            &Scope {
                in_url: false,
                ..scope
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(body.render(&values), "{\"id\":\"a b/c\"}");
        let later = Template::parse_in("{{etag}}", &scope).unwrap_err().1;
        assert!(later.contains("earlier steps captured"), "{later}");
    }

    #[test]
    fn random_covers_the_whole_i64_range_without_overflow() {
        for (lo, hi) in [(-1, i64::MAX), (i64::MIN, i64::MAX), (i64::MIN, i64::MIN)] {
            let t = Template::parse(&format!("{{{{random({lo},{hi})}}}}"))
                .unwrap()
                .unwrap();
            for random in [[0, 0], [u64::MAX, 1], [0x8000_0000_0000_0000, 7]] {
                let n: i64 = t.render(&Values { random, ..VALUES }).parse().unwrap();
                assert!((lo..=hi).contains(&n), "{n} outside {lo}..={hi}");
            }
        }
    }

    #[test]
    fn plain_text_is_not_a_template() {
        assert_eq!(Template::parse("/hello?a={b}").unwrap(), None);
    }

    #[test]
    fn bad_templates_say_where_and_what() {
        assert_eq!(Template::parse("ab{{seq").unwrap_err().0, 2);
        assert!(
            Template::parse("{{item_id}}")
                .unwrap_err()
                .1
                .contains("unknown template value `{{item_id}}`")
        );
        assert!(
            Template::parse("{{random(5,1)}}")
                .unwrap_err()
                .1
                .contains("MIN <= MAX")
        );
        assert!(
            Template::parse("{{random(5)}}")
                .unwrap_err()
                .1
                .contains("two integers")
        );
    }
}
