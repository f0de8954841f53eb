//! What the fake holds for each served model: its members, under the
//! parameters of their collection, each with the revision its `ETag` is
//! made of; and the model's own way of reading a body ([`Codec`]), which is
//! the only place that knows the model's type.

use std::any::TypeId;
use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::time::Duration;

use backrest_runtime::{Model, StatusCode, push_param};
use serde_json::Value;

use crate::fault::Injected;
use crate::route::{Routes, decode};

/// Why a request or an insert is refused: the status and the message of the
/// answer's `{"error": ...}` body.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }
}

/// A stored member: its id (decoded, as in its path; empty for a
/// singleton), its member path as the model builds it, its JSON as the
/// model writes it, and its revision.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) path: String,
    pub(crate) value: Value,
    pub(crate) revision: u64,
}

impl Member {
    /// The member's strong `ETag`: its revision, quoted.
    pub(crate) fn etag(&self) -> String {
        format!("\"{}\"", self.revision)
    }
}

/// A body read as the model: normalized JSON, the decoded parameters of its
/// collection, its id and (when it has one) its member path.
pub(crate) struct Decoded {
    pub(crate) value: Value,
    pub(crate) params: Vec<String>,
    pub(crate) id: Option<String>,
    pub(crate) path: Option<String>,
}

/// The model's type behind the erased store.
pub(crate) trait Codec: Send + Sync {
    /// Reads `value` as the model (and through its validator), or refuses it.
    fn decode(&self, routes: &Routes, value: Value) -> Result<Decoded, Refusal>;
}

/// A check of created and updated values, set by
/// [`FakeApi::validate`](crate::FakeApi::validate).
pub(crate) type Validator<M> = Box<dyn Fn(&M) -> Result<(), String> + Send + Sync>;

/// The codec of model `M`.
pub(crate) struct Typed<M: Model> {
    pub(crate) validator: Option<Validator<M>>,
    pub(crate) model: PhantomData<fn() -> M>,
}

impl<M: Model> Codec for Typed<M> {
    fn decode(&self, routes: &Routes, value: Value) -> Result<Decoded, Refusal> {
        let name = short_name::<M>();
        let model: M = serde_json::from_value(value).map_err(|error| {
            Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the body is not a `{name}`: {error}"),
            )
        })?;
        if let Some(validator) = &self.validator {
            validator(&model).map_err(|why| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, why))?;
        }
        let params = routes
            .collection_key(&M::collection_path(&model.params()))
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "the `{name}`'s path parameters make no path of {:?}",
                        M::PATH
                    ),
                )
            })?;
        let (id, path) = match model.id() {
            Some(id) => {
                let mut segment = String::new();
                push_param(&mut segment, id);
                let path = M::member_path(&model.params(), id);
                (Some(decode(&segment).unwrap_or(segment)), Some(path))
            }
            None => (None, None),
        };
        let value = serde_json::to_value(&model).map_err(|error| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the `{name}` does not serialize: {error}"),
            )
        })?;
        Ok(Decoded {
            value,
            params,
            id,
            path,
        })
    }
}

/// How many ids in a row may be taken before a create gives up.
const MAX_ID_TRIES: u32 = 10_000;

/// Makes the JSON of the next id, from the model's sequence number.
pub(crate) type IdMaker = Box<dyn FnMut(u64) -> Result<Value, String> + Send>;

/// Everything the fake knows about one served model.
pub(crate) struct Resource {
    pub(crate) type_id: TypeId,
    /// The model's name, for messages.
    pub(crate) name: &'static str,
    pub(crate) routes: Routes,
    /// The id field's name in JSON (`Model::ID_FIELD`; empty for a
    /// singleton).
    pub(crate) id_field: &'static str,
    /// The member bodies are read from and answers written into
    /// (`Model::ENVELOPE`).
    pub(crate) envelope: Option<&'static str>,
    pub(crate) codec: Box<dyn Codec>,
    pub(crate) ids: IdMaker,
    /// The sequence number the next id is made from.
    pub(crate) next: u64,
    /// Members per collection, in the order they were created.
    pub(crate) collections: HashMap<Vec<String>, Vec<Member>>,
    /// Failures queued by `fail` and `fault`, for the next requests.
    pub(crate) injected: VecDeque<Injected>,
    pub(crate) delay: Duration,
    pub(crate) page_size: Option<usize>,
}

impl Resource {
    /// The members of one collection (none if it was never written).
    pub(crate) fn members(&self, params: &[String]) -> &[Member] {
        self.collections.get(params).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn member(&self, params: &[String], id: &str) -> Option<&Member> {
        self.members(params).iter().find(|member| member.id == id)
    }

    /// The member with this id in a collection whose parameters are those
    /// of `pattern` (`None` matching any: a shallow member path names only
    /// some of them), and that collection's parameters.
    pub(crate) fn locate(
        &self,
        pattern: &[Option<String>],
        id: &str,
    ) -> Option<(Vec<String>, &Member)> {
        let fits = |params: &Vec<String>| {
            params.len() == pattern.len()
                && params
                    .iter()
                    .zip(pattern)
                    .all(|(param, want)| want.as_ref().is_none_or(|want| want == param))
        };
        self.collections
            .iter()
            .filter(|(params, _)| fits(params))
            .find_map(|(params, members)| {
                let member = members.iter().find(|member| member.id == id)?;
                Some((params.clone(), member))
            })
    }

    /// Whether `id` is taken where a new member of `params` would be: among
    /// the members its member path could name (a shallow member is found by
    /// id across the collections its member template does not tell apart).
    fn taken(&self, params: &[String], id: &str) -> bool {
        self.locate(&self.routes.member_scope(params), id).is_some()
    }

    /// Creates a member from `body` (an id is made if it has none),
    /// in the collection `at` when the request named one.
    pub(crate) fn create(
        &mut self,
        mut body: Value,
        at: Option<&[String]>,
        revision: &mut u64,
    ) -> Result<Member, Refusal> {
        let Some(object) = body.as_object_mut() else {
            return Err(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the body is not a `{}`: not a JSON object", self.name),
            ));
        };
        // A singleton has no id to make: its one member is at its path.
        let given =
            self.routes.singleton() || object.get(self.id_field).is_some_and(|id| !id.is_null());
        // Ids already taken (by inserts with ids of their own) are skipped,
        // a bounded number of times: a maker may repeat itself.
        let mut tries = 0;
        // The sequence moves on only when a create succeeds.
        let mut next = self.next;
        let decoded = loop {
            tries += 1;
            if tries > MAX_ID_TRIES {
                return Err(Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "the id maker of `{}` made {MAX_ID_TRIES} ids in a row that are taken",
                        self.name
                    ),
                ));
            }
            if !given {
                next += 1;
                let id = (self.ids)(next)
                    .map_err(|why| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, why))?;
                body[self.id_field] = id;
            }
            let decoded = self.codec.decode(&self.routes, body.clone())?;
            let Some(id) = &decoded.id else {
                return Err(Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "the `{}` still has no id after the fake set `{}`",
                        self.name, self.id_field
                    ),
                ));
            };
            if !self.taken(&decoded.params, id) {
                break decoded;
            }
            if self.routes.singleton() {
                return Err(Refusal::new(
                    StatusCode::CONFLICT,
                    format!("the `{}` exists already", self.name),
                ));
            }
            if given {
                return Err(Refusal::new(
                    StatusCode::CONFLICT,
                    format!("a `{}` with the id {id:?} exists already", self.name),
                ));
            }
        };
        if at.is_some_and(|at| at != decoded.params.as_slice()) {
            return Err(parents_differ(self.name));
        }
        self.next = next;
        *revision += 1;
        let member = Member {
            id: decoded.id.unwrap_or_default(),
            path: decoded.path.unwrap_or_default(),
            value: decoded.value,
            revision: *revision,
        };
        self.collections
            .entry(decoded.params)
            .or_default()
            .push(member.clone());
        Ok(member)
    }

    /// Replaces a member's value with `body` (its id kept), as a PUT or a
    /// merged PATCH does.
    pub(crate) fn replace(
        &mut self,
        params: &[String],
        id: &str,
        mut body: Value,
        revision: &mut u64,
    ) -> Result<Member, Refusal> {
        let name = self.name;
        let Some(current) = self.member(params, id) else {
            return Err(not_found(name, id));
        };
        let Some(object) = body.as_object_mut() else {
            return Err(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the body is not a `{name}`: not a JSON object"),
            ));
        };
        // The id is the path's, whatever the body says.
        if !self.routes.singleton() {
            let stored_id = current.value.get(self.id_field).cloned();
            object.insert(self.id_field.to_owned(), stored_id.unwrap_or(Value::Null));
        }
        let decoded = self.codec.decode(&self.routes, body)?;
        if decoded.params != params {
            return Err(parents_differ(name));
        }
        *revision += 1;
        let members = self.collections.entry(params.to_vec()).or_default();
        let Some(member) = members.iter_mut().find(|member| member.id == id) else {
            return Err(not_found(name, id));
        };
        member.value = decoded.value;
        member.revision = *revision;
        Ok(member.clone())
    }

    /// Removes a member; whether there was one.
    pub(crate) fn remove(&mut self, params: &[String], id: &str) -> bool {
        let Some(members) = self.collections.get_mut(params) else {
            return false;
        };
        let before = members.len();
        members.retain(|member| member.id != id);
        members.len() != before
    }
}

pub(crate) fn not_found(name: &str, id: &str) -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        format!("no `{name}` with the id {id:?}"),
    )
}

fn parents_differ(name: &str) -> Refusal {
    Refusal::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("the `{name}`'s path parameters in the body are not those of the path"),
    )
}

/// A type's name without its module path: `User`, not `my_app::User`.
pub(crate) fn short_name<M>() -> &'static str {
    let full = std::any::type_name::<M>();
    // Generic arguments may hold `::` too; models are not generic.
    full.rsplit("::").next().unwrap_or(full)
}
