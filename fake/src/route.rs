//! Routes from a model's path template ([`Model::PATH`]): which requests
//! reach its collection and which its members, and the decoded values of
//! their parameters and id.
//!
//! The same matching reads the paths the model builds itself
//! ([`Model::collection_path`]), so that what the fake stores under a
//! model's parameters and what a request names are one key.
//!
//! [`Model::PATH`]: backrest_runtime::Model::PATH
//! [`Model::collection_path`]: backrest_runtime::Model::collection_path

use percent_encoding::percent_decode_str;

/// A collection's template, one entry per path segment.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    segments: Vec<Segment>,
}

/// A segment: literal text, or a placeholder with literal text around it
/// (`v{version}` is `Param { prefix: "v", suffix: "" }`).
#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Param { prefix: String, suffix: String },
}

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The collection under these (decoded) parameters.
    Collection(Vec<String>),
    /// A member: the parameters and the (decoded) id.
    Member(Vec<String>, String),
}

impl Template {
    /// Reads a template as `#[derive(Model)]` writes it, or says why the fake
    /// cannot route it (two placeholders in one segment).
    pub(crate) fn parse(template: &str) -> Result<Template, String> {
        let rest = template
            .strip_prefix('/')
            .ok_or_else(|| format!("the path template {template:?} does not start with `/`"))?;
        let segments = rest
            .split('/')
            .map(|segment| match segment.find('{') {
                None => Ok(Segment::Literal(segment.to_owned())),
                Some(open) => {
                    let close = segment[open..].find('}').map(|at| open + at);
                    match close {
                        Some(close) if !segment[close + 1..].contains('{') => Ok(Segment::Param {
                            prefix: segment[..open].to_owned(),
                            suffix: segment[close + 1..].to_owned(),
                        }),
                        _ => Err(format!(
                            "the fake routes one placeholder per segment, and {segment:?} in \
                             {template:?} has more"
                        )),
                    }
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Template { segments })
    }

    /// What `path` (percent-encoded, without a query) names under this
    /// template, if anything.
    pub(crate) fn target(&self, path: &str) -> Option<Target> {
        let rest = path.strip_prefix('/')?;
        let raw: Vec<&str> = rest.split('/').collect();
        let (collection, id) = match raw.len().checked_sub(self.segments.len())? {
            0 => (&raw[..], None),
            1 => (&raw[..self.segments.len()], raw.last()),
            _ => return None,
        };
        let params = self.params(collection)?;
        match id {
            None => Some(Target::Collection(params)),
            Some(id) if !id.is_empty() => Some(Target::Member(params, decode(id)?)),
            Some(_) => None,
        }
    }

    /// The decoded parameters of a collection path's segments, if they match.
    fn params(&self, raw: &[&str]) -> Option<Vec<String>> {
        let mut params = Vec::new();
        for (segment, raw) in self.segments.iter().zip(raw) {
            match segment {
                Segment::Literal(text) => {
                    if text != raw {
                        return None;
                    }
                }
                Segment::Param { prefix, suffix } => {
                    let value = raw.strip_prefix(prefix.as_str())?;
                    let value = value.strip_suffix(suffix.as_str())?;
                    if value.is_empty() {
                        return None;
                    }
                    params.push(decode(value)?);
                }
            }
        }
        Some(params)
    }

    /// The decoded parameters of a collection path the model built.
    pub(crate) fn collection_key(&self, path: &str) -> Option<Vec<String>> {
        match self.target(path)? {
            Target::Collection(params) => Some(params),
            Target::Member(..) => None,
        }
    }
}

/// A percent-encoded segment as text; `None` if it is not UTF-8.
pub(crate) fn decode(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::{Target, Template};

    #[test]
    fn t1_a_template_routes_its_collection_and_members_with_decoded_values() {
        let template = Template::parse("/orgs/{org}/repos").unwrap();
        assert_eq!(
            template.target("/orgs/a%20b/repos"),
            Some(Target::Collection(vec!["a b".into()]))
        );
        assert_eq!(
            template.target("/orgs/7/repos/x%2Fy"),
            Some(Target::Member(vec!["7".into()], "x/y".into()))
        );
        assert_eq!(template.target("/orgs/7/teams"), None);
        assert_eq!(template.target("/orgs/7/repos/1/more"), None);
        assert_eq!(template.target("/orgs//repos"), None);
        assert_eq!(template.target("/orgs/7/repos/"), None);

        let versioned = Template::parse("/v{version}/items").unwrap();
        assert_eq!(
            versioned.target("/v2/items"),
            Some(Target::Collection(vec!["2".into()]))
        );
        assert_eq!(versioned.target("/2/items"), None);
        assert!(Template::parse("/{a}-{b}/items").is_err());
    }
}
