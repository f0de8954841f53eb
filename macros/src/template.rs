//! The path template of `#[model(path = "...")]`: its syntax, checked here,
//! and its pieces, literal text and `{field}` placeholders.

use std::fmt;

/// One piece of a template.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Text copied into the path as written.
    Literal(String),
    /// `{name}`: the value of field `name`, percent-encoded as one segment.
    Param(String),
}

/// A parsed collection path, such as `/orgs/{org_id}/repos`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) pieces: Vec<Piece>,
}

impl Template {
    /// Parses a template, or explains in one sentence what is wrong with it.
    ///
    /// A template starts with `/`, does not end with `/` (members are at
    /// `{collection}/{id}`), has no empty segment, no query or fragment, and
    /// only characters allowed in a URL path; `{` and `}` only delimit
    /// placeholders, each naming a field.
    pub(crate) fn parse(path: &str) -> Result<Self, String> {
        if path.is_empty() {
            return Err("the path is empty: write the collection's path, such as `/repos`".into());
        }
        if !path.starts_with('/') {
            return Err(format!("the path must start with `/`: write `/{path}`"));
        }
        if path.contains(['?', '#']) {
            return Err(
                "the path must not contain `?` or `#`: it is the path of a resource, \
                        without a query or fragment"
                    .into(),
            );
        }
        if path.ends_with('/') {
            return Err(format!(
                "the path must not end with `/`: it is the collection's path, and a member's is \
                 `{}/{{id}}`",
                path.trim_end_matches('/')
            ));
        }
        if path.contains("//") {
            return Err("the path must not contain an empty segment `//`".into());
        }
        if path.split('/').any(is_dot_segment) {
            return Err(
                "the path must not contain a `.` or `..` segment: URLs resolve it, \
                        so requests would reach another resource"
                    .into(),
            );
        }

        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = path.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' => {
                    let rest = &path[at + 1..];
                    let Some(end) = rest
                        .find(['{', '}'])
                        .filter(|end| rest[*end..].starts_with('}'))
                    else {
                        return Err(
                            "unclosed `{` in the path: a placeholder is written `{field}`".into(),
                        );
                    };
                    let name = &rest[..end];
                    check_placeholder_name(name)?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Param(name.to_owned()));
                    // Skip the name and the closing brace.
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(
                        "unmatched `}` in the path: a placeholder is written `{field}`".into(),
                    );
                }
                '%' => {
                    let hex = path.get(at + 1..at + 3).unwrap_or("");
                    if hex.len() != 2 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                        return Err(
                            "`%` in the path must start a percent-encoded byte, such as `%20`"
                                .into(),
                        );
                    }
                    literal.push(c);
                }
                c if is_path_char(c) => literal.push(c),
                c => {
                    let mut utf8 = [0; 4];
                    let encoded: String = c
                        .encode_utf8(&mut utf8)
                        .bytes()
                        .map(|byte| format!("%{byte:02X}"))
                        .collect();
                    return Err(format!(
                        "{c:?} is not allowed in a URL path: percent-encode it as `{encoded}`"
                    ));
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Template { pieces })
    }

    /// The placeholders' names, in template order.
    pub(crate) fn params(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Param(name) => Some(name.as_str()),
            Piece::Literal(_) => None,
        })
    }

    /// The length in bytes of the literal text.
    pub(crate) fn literal_len(&self) -> usize {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Literal(text) => text.len(),
                Piece::Param(_) => 0,
            })
            .sum()
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => f.write_str(text)?,
                Piece::Param(name) => write!(f, "{{{name}}}")?,
            }
        }
        Ok(())
    }
}

/// How many placeholders a template that may not parse seems to have: the
/// number of `{`. Only a guess, for the stubs emitted after an error.
pub(crate) fn count_placeholders(path: &str) -> usize {
    path.matches('{').count()
}

fn check_placeholder_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty placeholder `{}` in the path: name a field, as in `{org_id}`".into());
    }
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    if !starts_well || !chars.all(|c| c.is_alphanumeric() || c == '_') || name == "_" {
        return Err(format!(
            "`{{{name}}}` in the path is not a field name: a placeholder is written `{{field}}`"
        ));
    }
    Ok(())
}

/// `.` or `..`, possibly percent-encoded (`%2e`), which URL parsing removes.
fn is_dot_segment(segment: &str) -> bool {
    matches!(
        segment.to_ascii_lowercase().replace("%2e", ".").as_str(),
        "." | ".."
    )
}

/// Whether `c` may appear as itself in a URL path (RFC 3986 `pchar` or `/`).
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str) -> Piece {
        Piece::Literal(text.into())
    }

    fn param(name: &str) -> Piece {
        Piece::Param(name.into())
    }

    #[test]
    fn parses_a_top_level_path() {
        let template = Template::parse("/users").unwrap();
        assert_eq!(template.pieces, [lit("/users")]);
        assert_eq!(template.params().count(), 0);
        assert_eq!(template.literal_len(), 6);
    }

    #[test]
    fn parses_placeholders_in_order() {
        let template = Template::parse("/orgs/{org_id}/teams/{team}/members").unwrap();
        assert_eq!(
            template.pieces,
            [
                lit("/orgs/"),
                param("org_id"),
                lit("/teams/"),
                param("team"),
                lit("/members")
            ]
        );
        assert_eq!(template.params().collect::<Vec<_>>(), ["org_id", "team"]);
        assert_eq!(template.literal_len(), "/orgs//teams//members".len());
        assert_eq!(template.to_string(), "/orgs/{org_id}/teams/{team}/members");
    }

    #[test]
    fn parses_placeholders_inside_segments_and_at_the_end() {
        let template = Template::parse("/v{version}/files/{a}{b}").unwrap();
        assert_eq!(
            template.pieces,
            [
                lit("/v"),
                param("version"),
                lit("/files/"),
                param("a"),
                param("b")
            ]
        );
    }

    #[test]
    fn keeps_percent_encoded_bytes_and_unicode_names() {
        let template = Template::parse("/a%20b/{größe}").unwrap();
        assert_eq!(template.pieces, [lit("/a%20b/"), param("größe")]);
        assert_eq!(template.literal_len(), 7);
    }

    #[test]
    fn placeholder_names_may_be_keywords() {
        let template = Template::parse("/kinds/{type}/items").unwrap();
        assert_eq!(template.params().collect::<Vec<_>>(), ["type"]);
    }

    fn error(path: &str) -> String {
        Template::parse(path).unwrap_err()
    }

    #[test]
    fn rejects_bad_syntax() {
        assert!(error("").contains("empty"));
        assert!(error("users").contains("must start with `/`: write `/users`"));
        assert!(error("/users/").contains("must not end with `/`"));
        assert!(error("/").contains("must not end with `/`"));
        assert!(error("/users?page=1").contains("`?` or `#`"));
        assert!(error("/users#top").contains("`?` or `#`"));
        assert!(error("/orgs//repos").contains("empty segment"));
        assert!(error("/orgs/../repos").contains("`.` or `..` segment"));
        assert!(error("/orgs/./repos").contains("`.` or `..` segment"));
        assert!(error("/orgs/%2E%2e").contains("`.` or `..` segment"));
        assert!(Template::parse("/orgs/.well-known/v1.2/...").is_ok());
        assert!(error("/orgs/{org_id/repos").contains("unclosed `{`"));
        assert!(error("/orgs/{org_id").contains("unclosed `{`"));
        assert!(error("/orgs/{{org_id}}").contains("unclosed `{`"));
        assert!(error("/orgs/org_id}/repos").contains("unmatched `}`"));
        assert!(error("/orgs/{}/repos").contains("empty placeholder"));
        assert!(
            error("/orgs/{org id}/repos").contains("`{org id}` in the path is not a field name")
        );
        assert!(error("/orgs/{1st}/repos").contains("not a field name"));
        assert!(error("/orgs/{_}/repos").contains("not a field name"));
        assert!(
            error("/my repos")
                .contains("' ' is not allowed in a URL path: percent-encode it as `%20`")
        );
        assert!(error("/caf\u{e9}").contains("`%C3%A9`"));
        assert!(error("/a%2").contains("percent-encoded byte"));
        assert!(error("/a%zz").contains("percent-encoded byte"));
    }

    #[test]
    fn counts_placeholders_of_broken_templates() {
        assert_eq!(count_placeholders("/orgs/{org_id}/repos/{x"), 2);
        assert_eq!(count_placeholders("/users/"), 0);
    }
}
