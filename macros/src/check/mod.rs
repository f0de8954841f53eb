//! Checks across the struct and its fields: exactly one `#[model(id)]`
//! field, of type `Option<K>`, at most one `#[model(etag)]` field, an
//! `Option<String>` with `#[serde(skip)]`, and a path whose placeholders
//! are fields. What passes is the [`Model`] that code is generated from.

use syn::ext::IdentExt;
use syn::{GenericArgument, Ident, LitStr, Path, PathArguments, Type, Visibility};

use crate::ast::{Field, Input};
use crate::ctxt::Ctxt;
use crate::message;
use crate::template::Template;

mod shapes;
use shapes::{check_member, check_no_id};

/// A model that passed every check.
pub(crate) struct Model<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) vis: &'a Visibility,
    /// The path to the backrest crate: `::backrest` unless renamed.
    pub(crate) krate: Path,
    pub(crate) reload: bool,
    /// `name = "..."`, if given: the model's stable name (F1).
    pub(crate) name: Option<LitStr>,
    /// `max_age` and `stale_while_revalidate`, in milliseconds.
    pub(crate) max_age: Option<u64>,
    pub(crate) stale_while_revalidate: Option<u64>,
    pub(crate) template: Template,
    /// The fields of the placeholders, in template order.
    pub(crate) params: Vec<&'a Field<'a>>,
    /// The `#[model(id)]` field and the `K` of its type `Option<K>`; `None`
    /// for a singleton.
    pub(crate) id: Option<(&'a Field<'a>, &'a Type)>,
    /// The `#[model(etag)]` field, an `Option<String>`, if there is one.
    pub(crate) etag: Option<&'a Field<'a>>,
    // ---- E4, E5, E6 ----
    /// A shallow member's own path (`member = ".."`).
    pub(crate) member: Option<Member>,
    /// `singleton`: one resource at the path, no id.
    pub(crate) singleton: bool,
    /// `envelope = ".."`: the member bodies travel in.
    pub(crate) envelope: Option<String>,
    // ---- end E4, E5, E6 ----
}

/// A shallow member's path template (E4).
pub(crate) struct Member {
    pub(crate) template: Template,
    /// The placeholder that stands for the id: `id`, or the id field's name.
    pub(crate) id: String,
    /// For each other placeholder, in template order, its index among the
    /// collection path's parameters.
    pub(crate) params: Vec<usize>,
}

/// Checks `input`, recording every mistake; the model if there is one to
/// generate code for (possibly despite mistakes that do not change it, such
/// as a repeated key).
pub(crate) fn check<'a>(cx: &Ctxt, input: &'a Input<'a>) -> Option<Model<'a>> {
    let singleton = input.attrs.singleton.is_some();
    let id = if singleton {
        check_no_id(cx, input);
        None
    } else {
        Some(check_id(cx, input))
    };
    let id_field = id.flatten().map(|(field, _)| field);
    let etag = check_etag(cx, input, id_field);
    let path = check_path(cx, input, id_field);
    let member = path
        .as_ref()
        .and_then(|(_, params)| check_member(cx, input, id_field, params));
    let (max_age, stale_while_revalidate) = check_freshness(cx, input);
    let id = match id {
        Some(id) => Some(id?),
        None => None,
    };
    let (template, params) = path?;
    let member = match (&input.attrs.member, member) {
        (Some(_), None) => return None,
        (_, member) => member,
    };
    Some(Model {
        ident: input.ident,
        vis: input.vis,
        krate: input.attrs.krate(),
        reload: input.attrs.reload.is_some(),
        name: input.attrs.name.clone(),
        max_age,
        stale_while_revalidate,
        template,
        params,
        id,
        etag,
        member,
        singleton,
        envelope: input.attrs.envelope.as_ref().map(LitStr::value),
    })
}

/// `max_age` and `stale_while_revalidate`, which mean something only
/// together as far as the second goes, and not at all on a `reload` model,
/// which never reads the cache. Each mistake is spanned on the key that
/// does nothing.
fn check_freshness(cx: &Ctxt, input: &Input<'_>) -> (Option<u64>, Option<u64>) {
    let attrs = &input.attrs;
    let max_age = attrs.max_age.as_ref();
    let stale = attrs.stale_while_revalidate.as_ref();
    if let (Some((key, _)), None) = (stale, max_age) {
        cx.error_spanned_by(
            key,
            "`stale_while_revalidate` is how long a value is served past its max age, and \
             this model has none: add `max_age = \"...\"` (such as `max_age = \"30s\"`)",
        );
    }
    if attrs.reload.is_some() {
        for (key, _) in max_age.into_iter().chain(stale) {
            let name = key
                .get_ident()
                .map_or_else(String::new, ToString::to_string);
            cx.error_spanned_by(
                key,
                format!(
                    "`{name}` has no effect with `reload`: every fetch of this model sends a \
                     request; remove one of them"
                ),
            );
        }
    }
    (
        max_age.map(|(_, millis)| *millis),
        stale.map(|(_, millis)| *millis),
    )
}

/// The etag field, if one is marked. Its mistakes are errors; the model
/// keeps the field if its type is right, so that a missing
/// `#[serde(skip)]` or a second `etag` does not cascade.
fn check_etag<'a>(
    cx: &Ctxt,
    input: &'a Input<'a>,
    id: Option<&'a Field<'a>>,
) -> Option<&'a Field<'a>> {
    let mut marked = input
        .fields
        .iter()
        .filter(|field| field.attrs.etag.is_some());
    let etag = marked.next()?;
    for extra in marked {
        if let Some(key) = &extra.attrs.etag {
            cx.error_spanned_by(
                key,
                format!(
                    "`#[model(etag)]` is already on `{}`, and a model has one etag: remove \
                     `#[model(etag)]` from `{}`",
                    etag.ident, extra.ident
                ),
            );
        }
    }
    if let (Some(id), Some(key)) = (id, &etag.attrs.etag)
        && std::ptr::eq(id, etag)
    {
        cx.error_spanned_by(
            key,
            format!(
                "`{}` is the `#[model(id)]` field, and the etag needs a field of its own: add \
                 a field `etag: Option<String>` with `#[model(etag)]`",
                etag.ident
            ),
        );
    }
    if !is_option_string(etag.ty) {
        let ty = display_type(etag.ty);
        cx.error_spanned_by(
            etag.ty,
            format!(
                "the `#[model(etag)]` field must be an `Option<String>`: it holds the `ETag` \
                 header as the server sent it, `None` until one arrives; change `{ty}` to \
                 `Option<String>`"
            ),
        );
        return None;
    }
    if !etag.attrs.serde_skip {
        let (ident, ty) = (etag.ident, etag.ty);
        cx.error_spanned_by(
            quote::quote!(#ident: #ty),
            format!(
                "add `#[serde(skip)]` to `{ident}`: the `#[model(etag)]` field travels in \
                 headers (`ETag` in, `If-Match` out), so it must never be serialized into a \
                 request body nor read from a response body"
            ),
        );
    }
    Some(etag)
}

/// Whether `ty` is `Option<String>`, however the paths are written.
fn is_option_string(ty: &Type) -> bool {
    let Some(Type::Path(inner)) = option_argument(ty) else {
        return false;
    };
    inner.qself.is_none()
        && inner.path.segments.last().is_some_and(|last| {
            last.ident == "String" && matches!(last.arguments, PathArguments::None)
        })
}

/// The id field and its `K`.
fn check_id<'a>(cx: &Ctxt, input: &'a Input<'a>) -> Option<(&'a Field<'a>, &'a Type)> {
    let mut marked = input.fields.iter().filter(|field| field.attrs.id.is_some());
    let Some(id) = marked.next() else {
        if input.attrs.singleton_mentioned
            || input.fields.iter().any(|field| field.attrs.id_mentioned)
        {
            // The rejected `id` key has its own error.
            return None;
        }
        let hint = input
            .fields
            .iter()
            .find(|field| field.ident.unraw() == "id")
            .map_or_else(String::new, |field| format!("; is it `{}`?", field.ident));
        cx.error_spanned_by(
            input.ident,
            format!(
                "no field is marked as the id: add `#[model(id)]` to the field holding the id, \
                 of type `Option<K>`{hint}"
            ),
        );
        return None;
    };
    for extra in marked {
        if let Some(key) = &extra.attrs.id {
            cx.error_spanned_by(
                key,
                format!(
                    "`#[model(id)]` is already on `{}`, and a model has one id: remove \
                     `#[model(id)]` from `{}`",
                    id.ident, extra.ident
                ),
            );
        }
    }
    if let Some(k) = option_argument(id.ty) {
        return Some((id, k));
    }
    let ty = display_type(id.ty);
    cx.error_spanned_by(
        id.ty,
        format!(
            "the `#[model(id)]` field must be an `Option<K>`, `None` until the server assigns \
             the id: change `{ty}` to `Option<{ty}>`"
        ),
    );
    None
}

/// The template and the fields of its placeholders, in order.
fn check_path<'a>(
    cx: &Ctxt,
    input: &'a Input<'a>,
    id: Option<&'a Field<'a>>,
) -> Option<(Template, Vec<&'a Field<'a>>)> {
    let Some(lit) = &input.attrs.path else {
        if input.attrs.path_mentioned {
            // The rejected `path` key has its own error.
            return None;
        }
        cx.error_spanned_by(
            input.ident,
            format!(
                "missing `#[model(path = \"...\")]`: add the collection's path to the struct, \
                 such as `#[model(path = \"/{}s\")]`",
                snake_case(&input.ident.unraw().to_string())
            ),
        );
        return None;
    };
    let template = match Template::parse(&lit.value()) {
        Ok(template) => template,
        Err(message) => {
            cx.error_spanned_by(lit, message);
            return None;
        }
    };

    let is_id = |field: &Field<'_>| id.is_some_and(|id| std::ptr::eq(id, field));
    let mut params: Vec<&Field<'_>> = Vec::new();
    let mut complete = true;
    for name in template.params() {
        let Some(field) = input
            .fields
            .iter()
            .find(|field| field.ident.unraw() == name)
        else {
            let candidates: Vec<String> = input
                .fields
                .iter()
                .filter(|field| !is_id(field))
                .map(|field| field.ident.unraw().to_string())
                .collect();
            cx.error_spanned_by(lit, unknown_placeholder(name, input.ident, &candidates));
            complete = false;
            continue;
        };
        if is_id(field) {
            let path = lit.value();
            let write = match path.strip_suffix(&format!("/{{{name}}}")) {
                Some(collection) if !collection.is_empty() => format!("write `{collection}`"),
                _ => String::from("write the collection's path, without the id"),
            };
            cx.error_spanned_by(
                lit,
                format!(
                    "`{{{name}}}` in the path is the `#[model(id)]` field, which backrest appends \
                     to the collection's path for a member: {write}"
                ),
            );
            complete = false;
        } else if params.iter().any(|param| std::ptr::eq(*param, field)) {
            cx.error_spanned_by(
                lit,
                format!(
                    "`{{{name}}}` appears more than once in the path: a field fills one placeholder"
                ),
            );
            complete = false;
        } else {
            params.push(field);
        }
    }
    complete.then_some((template, params))
}

fn unknown_placeholder(name: &str, model: &Ident, candidates: &[String]) -> String {
    let start = format!("`{{{name}}}` in the path is not a field of `{model}`");
    if candidates.is_empty() {
        return format!("{start}, which has no field besides its id");
    }
    let near = message::did_you_mean(message::nearest(
        name,
        candidates.iter().map(String::as_str),
    ));
    let fields = message::list(candidates.iter().map(|field| format!("`{field}`")), "and");
    let its_fields = if near.is_empty() {
        "; its fields are"
    } else {
        " Its fields are"
    };
    format!("{start}{near}{its_fields} {fields}")
}

/// The `K` of `Option<K>`, however the path to `Option` is written
/// (`Option`, `std::option::Option`, `::core::option::Option`...). Whether it
/// is really `std`'s is left to the type checker.
fn option_argument(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Group(group) => option_argument(&group.elem),
        Type::Paren(paren) => option_argument(&paren.elem),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            if last.ident != "Option" {
                return None;
            }
            let PathArguments::AngleBracketed(arguments) = &last.arguments else {
                return None;
            };
            match arguments.args.first() {
                Some(GenericArgument::Type(k)) if arguments.args.len() == 1 => Some(k),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A type as a person would write it (`Vec<u8>`, not `Vec < u8 >`).
fn display_type(ty: &Type) -> String {
    let spaced = quote::quote!(#ty).to_string();
    [
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ::", "::"),
        (":: ", "::"),
        (" ,", ","),
        ("& ", "&"),
    ]
    .iter()
    .fold(spaced, |text, (from, to)| text.replace(from, to))
}

/// `OrgMember` to `org_member`, for an example path.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}
