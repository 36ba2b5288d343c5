//! `${VAR}` substitution from the environment, done once when targets are loaded.

/// Replaces every `${NAME}` in `text` with `lookup(NAME)`. A missing variable, an empty or
/// invalid name, or an unclosed `${` is an error that says which. `$` on its own is literal.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "`${{` at byte {} is not closed by `}}`",
                text.len() - rest.len() + start
            ));
        };
        let name = &after[..end];
        if !is_valid_name(name) {
            return Err(format!(
                "`${{{name}}}` is not a valid variable reference: names are letters, digits and _"
            ));
        }
        match lookup(name) {
            Some(value) => out.push_str(&value),
            None => {
                return Err(format!(
                    "environment variable `{name}` is not set: export it before the run, or remove `${{{name}}}`"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_owned())
    }

    #[test]
    fn substitutes_known_variables_and_keeps_lone_dollars() {
        assert_eq!(
            expand("Bearer ${TOKEN} $5", &lookup).as_deref(),
            Ok("Bearer s3cret $5")
        );
    }

    #[test]
    fn names_the_missing_variable() {
        let err = expand("x ${NOPE}", &lookup).unwrap_err();
        assert!(err.contains("`NOPE` is not set"), "{err}");
    }

    #[test]
    fn rejects_unclosed_and_invalid_references() {
        assert!(
            expand("${TOKEN", &lookup)
                .unwrap_err()
                .contains("not closed")
        );
        assert!(
            expand("${1X}", &lookup)
                .unwrap_err()
                .contains("not a valid variable")
        );
    }
}
