//! Text that fits a terminal: tables that put long names on a line of their own and leave
//! out their least needed columns, in a fixed order, until the rest fits; prose lines
//! wrapped at word boundaries. The summary is read in 80-column terminals and CI logs.

use std::fmt::Write as _;

/// The width when the terminal's is unknown (not a terminal: a CI log, a pipe).
pub const DEFAULT_WIDTH: usize = 80;

/// Narrowest width honoured: below it, tables and lines overflow rather than shred.
const NARROWEST: usize = 40;

/// The columns of stderr: the terminal's, [`DEFAULT_WIDTH`] when it is not one (a CI
/// log, a pipe).
pub fn stderr_width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map_or(DEFAULT_WIDTH, |(_, columns)| usize::from(columns))
}

/// Writes `text` and a line break to stderr, wrapped to its width: for prose a person
/// reads (the summary, notes during a run), not for errors, which stay one line.
pub fn say(text: &str) {
    use std::io::Write as _;
    let _ = write!(std::io::stderr(), "{}", wrap_lines(text, stderr_width()));
}

/// The widest name kept in its row (or beside its sparkline) at `width` columns: longer
/// ones go on a line of their own.
pub fn name_max(width: usize) -> usize {
    (width.max(NARROWEST) * 3 / 10).clamp(12, 40)
}

/// A table to fit: headings, rows (the first cell a name, left-aligned; the others
/// right-aligned), and which columns go first when it is too wide.
pub struct Table<'a> {
    /// Column headings.
    pub headers: &'a [&'a str],
    /// The rows, each as many cells as headings.
    pub rows: Vec<Vec<String>>,
    /// Indexes of columns to leave out, first first, until the table fits.
    pub drop_order: &'a [usize],
}

impl<'a> Table<'a> {
    /// The table within `width` columns, and the headings of the columns it left out.
    /// Names wider than a third of the width (and 40 at most) go on a line of their own,
    /// above their row.
    pub fn render(&self, width: usize) -> (String, Vec<&'a str>) {
        let width = width.max(NARROWEST);
        let name_max = name_max(width);
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, (w, cell)) in widths.iter_mut().zip(row).enumerate() {
                let len = cell.chars().count();
                if i > 0 || len <= name_max {
                    *w = (*w).max(len);
                }
            }
        }
        let mut kept: Vec<bool> = vec![true; self.headers.len()];
        let total = |kept: &[bool]| -> usize {
            let shown: Vec<usize> = (0..widths.len())
                .filter(|&i| kept[i])
                .map(|i| widths[i])
                .collect();
            shown.iter().sum::<usize>() + 2 * shown.len().saturating_sub(1)
        };
        for &column in self.drop_order {
            if total(&kept) <= width {
                break;
            }
            if let Some(k) = kept.get_mut(column) {
                *k = false;
            }
        }
        let mut out = String::new();
        let heading: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        self.line(&mut out, &heading, &widths, &kept);
        for row in &self.rows {
            if row
                .first()
                .is_some_and(|name| name.chars().count() > widths[0])
            {
                let _ = writeln!(out, "{}", row[0]);
                let mut rest = row.clone();
                rest[0] = String::new();
                self.line(&mut out, &rest, &widths, &kept);
            } else {
                self.line(&mut out, row, &widths, &kept);
            }
        }
        let dropped = (0..kept.len())
            .filter(|&i| !kept[i])
            .map(|i| self.headers[i])
            .collect();
        (out, dropped)
    }

    fn line(&self, out: &mut String, cells: &[String], widths: &[usize], kept: &[bool]) {
        let mut first = true;
        for (i, cell) in cells.iter().enumerate().filter(|(i, _)| kept[*i]) {
            let w = widths[i];
            let sep = if first { "" } else { "  " };
            first = false;
            let _ = match i {
                0 => write!(out, "{cell:<w$}"),
                _ => write!(out, "{sep}{cell:>w$}"),
            };
        }
        // A name left out of its row (on the line above) leaves trailing padding.
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    }
}

/// `text` with every line wider than `width` wrapped at spaces; continuation lines are
/// indented two more than the line they continue. Lines that already fit are untouched,
/// so fitted tables pass through as they are; a single word wider than `width` (a long
/// URL) stays whole on its line.
pub fn wrap_lines(text: &str, width: usize) -> String {
    let width = width.max(NARROWEST);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.chars().count() <= width {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let first = " ".repeat(indent);
        let rest = " ".repeat(indent + 2);
        let options = textwrap::Options::new(width)
            .initial_indent(&first)
            .subsequent_indent(&rest)
            // A URL or a name is never cut: copied from the terminal it must work.
            .break_words(false);
        for piece in textwrap::wrap(line.trim_start(), options) {
            out.push_str(&piece);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> Table<'static> {
        Table {
            headers: &["endpoint", "requests", "ok", "first", "min", "mean", "p99"],
            rows: vec![vec![
                name.to_owned(),
                "1000000".into(),
                "1000000".into(),
                "123456".into(),
                "123456".into(),
                "123456".into(),
                "123456".into(),
            ]],
            drop_order: &[3, 4, 5],
        }
    }

    #[test]
    fn a_wide_table_leaves_out_columns_in_order_until_it_fits() {
        let (text, dropped) = table("api").render(40);
        assert_eq!(dropped, ["first", "min", "mean"]);
        assert!(text.lines().all(|l| l.chars().count() <= 40), "{text}");
        assert!(text.starts_with("endpoint  requests"), "{text}");
        let (_, none) = table("api").render(200);
        assert!(none.is_empty());
    }

    #[test]
    fn a_long_name_goes_on_a_line_of_its_own() {
        let name = "a-very-long-endpoint-name.example.com/v1/users/search";
        let (text, _) = table(name).render(80);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], name);
        assert!(lines[2].trim_start().starts_with("1000000"), "{text}");
        assert!(
            lines.iter().skip(2).all(|l| l.chars().count() <= 80),
            "{text}"
        );
    }

    #[test]
    fn a_url_wider_than_the_line_is_never_cut() {
        let url = format!("https://api.test/{}", "segment/".repeat(12));
        let wrapped = wrap_lines(&format!("  connect: {url} refused the connection"), 60);
        assert!(wrapped.lines().any(|l| l.trim() == url), "{wrapped}");
        assert!(wrapped.lines().count() >= 3, "{wrapped}");
    }

    #[test]
    fn long_prose_wraps_with_its_indent_and_short_lines_stay() {
        let text = format!("short\n    {}\n", "word ".repeat(30));
        let wrapped = wrap_lines(&text, 50);
        let lines: Vec<&str> = wrapped.lines().collect();
        assert_eq!(lines[0], "short");
        assert!(lines[1].starts_with("    word"));
        assert!(lines[2].starts_with("      word"));
        assert!(lines.iter().all(|l| l.chars().count() <= 50), "{wrapped}");
    }
}
