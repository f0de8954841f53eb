//! Routes from a model's path templates ([`Model::PATH`] and, for shallow
//! members, [`Model::MEMBER`]): which requests reach its collection and
//! which its members, and the decoded values of their parameters and id.
//!
//! The same matching reads the paths the model builds itself
//! ([`Model::collection_path`]), so that what the fake stores under a
//! model's parameters and what a request names are one key.
//!
//! [`Model::PATH`]: backrest_runtime::Model::PATH
//! [`Model::MEMBER`]: backrest_runtime::Model::MEMBER
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
    Param {
        name: String,
        prefix: String,
        suffix: String,
    },
}

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The collection under these (decoded) parameters; a singleton's
    /// member.
    Collection(Vec<String>),
    /// A member: the collection's parameters (`None` for those a shallow
    /// member path does not name) and the (decoded) id.
    Member(Vec<Option<String>>, String),
}

/// A model's routes: its collection's template, and where its members are.
#[derive(Debug, Clone)]
pub(crate) struct Routes {
    collection: Template,
    members: Members,
}

/// Where a model's members are.
#[derive(Debug, Clone)]
enum Members {
    /// At the collection's path plus `/{id}`.
    Nested,
    /// At a template of their own (`/comments/{id}`): per placeholder, the
    /// index of the collection's parameter it is, or `None` for the id.
    Shallow(Template, Vec<Option<usize>>),
    /// A singleton: its one member is at the collection's path.
    Singleton,
}

impl Routes {
    /// The routes of a model with this path template, member template
    /// ([`Model::MEMBER`](backrest_runtime::Model::MEMBER)) and, if
    /// `singleton`, no members but the one at its path; or why the fake
    /// cannot route them.
    pub(crate) fn new(path: &str, member: Option<&str>, singleton: bool) -> Result<Routes, String> {
        let collection = Template::parse(path)?;
        let members = match member {
            None if singleton => Members::Singleton,
            None => Members::Nested,
            Some(member) => {
                let template = Template::parse(member)?;
                let names: Vec<&str> = collection.names().collect();
                let slots: Vec<Option<usize>> = template
                    .names()
                    .map(|name| names.iter().position(|known| *known == name))
                    .collect();
                if slots.iter().filter(|slot| slot.is_none()).count() != 1 {
                    return Err(format!(
                        "the member template {member:?} does not hold exactly one placeholder \
                         that is not one of {path:?}'s (the id's)"
                    ));
                }
                Members::Shallow(template, slots)
            }
        };
        Ok(Routes {
            collection,
            members,
        })
    }

    /// Whether the model is a singleton.
    pub(crate) fn singleton(&self) -> bool {
        matches!(self.members, Members::Singleton)
    }

    /// What `path` (percent-encoded, without a query) names among these
    /// routes, if anything.
    pub(crate) fn target(&self, path: &str) -> Option<Target> {
        match &self.members {
            Members::Nested => self.collection.target(path),
            Members::Singleton => match self.collection.target(path)? {
                target @ Target::Collection(_) => Some(target),
                Target::Member(..) => None,
            },
            Members::Shallow(template, slots) => {
                if let Some(target @ Target::Collection(_)) = self.collection.target(path) {
                    return Some(target);
                }
                let raw: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
                if raw.len() != template.segments.len() {
                    return None;
                }
                let values = template.params(&raw)?;
                let mut params = vec![None; self.collection.names().count()];
                let mut id = None;
                for (slot, value) in slots.iter().zip(values) {
                    match slot {
                        Some(index) => params[*index] = Some(value),
                        None => id = Some(value),
                    }
                }
                Some(Target::Member(params, id?))
            }
        }
    }

    /// The decoded parameters of a collection path the model built.
    pub(crate) fn collection_key(&self, path: &str) -> Option<Vec<String>> {
        self.collection.collection_key(path)
    }

    /// The parameters that the member path of a member of the collection
    /// at `params` names (each of them for nested members and singletons;
    /// those the member template holds for shallow ones): the members whose
    /// ids must differ from each other's.
    pub(crate) fn member_scope(&self, params: &[String]) -> Vec<Option<String>> {
        let Members::Shallow(_, slots) = &self.members else {
            return params.iter().cloned().map(Some).collect();
        };
        let mut scope = vec![None; params.len()];
        for index in slots.iter().flatten() {
            scope[*index] = params.get(*index).cloned();
        }
        scope
    }
}

impl Template {
    /// Reads a template as `#[derive(Model)]` writes it, or says why the fake
    /// cannot route it (two placeholders in one segment).
    fn parse(template: &str) -> Result<Template, String> {
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
                            name: segment[open + 1..close].to_owned(),
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
    fn target(&self, path: &str) -> Option<Target> {
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
            Some(id) if !id.is_empty() => Some(Target::Member(
                params.into_iter().map(Some).collect(),
                decode(id)?,
            )),
            Some(_) => None,
        }
    }

    /// The placeholders' names, in order.
    fn names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Literal(_) => None,
            Segment::Param { name, .. } => Some(name.as_str()),
        })
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
                Segment::Param { prefix, suffix, .. } => {
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
    fn collection_key(&self, path: &str) -> Option<Vec<String>> {
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
    use super::{Routes, Target, Template};

    #[test]
    fn t1_a_template_routes_its_collection_and_members_with_decoded_values() {
        let template = Template::parse("/orgs/{org}/repos").unwrap();
        assert_eq!(
            template.target("/orgs/a%20b/repos"),
            Some(Target::Collection(vec!["a b".into()]))
        );
        assert_eq!(
            template.target("/orgs/7/repos/x%2Fy"),
            Some(Target::Member(vec![Some("7".into())], "x/y".into()))
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

    #[test]
    fn t1_shallow_members_are_at_their_own_template_and_a_singleton_at_the_path() {
        let shallow = Routes::new(
            "/orgs/{org}/posts/{post}/comments",
            Some("/orgs/{org}/comments/{id}"),
            false,
        )
        .unwrap();
        assert_eq!(
            shallow.target("/orgs/a/posts/1/comments"),
            Some(Target::Collection(vec!["a".into(), "1".into()]))
        );
        assert_eq!(
            shallow.target("/orgs/a/comments/7"),
            Some(Target::Member(vec![Some("a".into()), None], "7".into()))
        );
        assert_eq!(
            shallow.member_scope(&["a".into(), "1".into()]),
            [Some("a".into()), None]
        );
        // Members are not served under the collection as well.
        assert_eq!(shallow.target("/orgs/a/posts/1/comments/7"), None);
        assert_eq!(shallow.target("/orgs/a/comments"), None);
        assert!(Routes::new("/posts/{post}/comments", Some("/comments/{post}"), false).is_err());

        let singleton = Routes::new("/users/{user}/profile", None, true).unwrap();
        assert!(singleton.singleton());
        assert_eq!(
            singleton.target("/users/3/profile"),
            Some(Target::Collection(vec!["3".into()]))
        );
        assert_eq!(singleton.target("/users/3/profile/1"), None);
    }
}
