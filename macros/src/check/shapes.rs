//! The checks of the shapes beyond a plain collection (E4, E5): a
//! singleton has no id, and a shallow member's template names the id and
//! fields of the collection's path.

use syn::ext::IdentExt;

use super::{Member, unknown_placeholder};
use crate::ast::{Field, Input};
use crate::ctxt::Ctxt;
use crate::template::Template;

/// A singleton has no id: a `#[model(id)]` field is a mistake (E5).
pub(super) fn check_no_id(cx: &Ctxt, input: &Input<'_>) {
    for field in &input.fields {
        if let Some(key) = &field.attrs.id {
            cx.error_spanned_by(
                key,
                format!(
                    "a `singleton` has no id: it is the one resource at its path, fetched with \
                     the path's parameters alone; remove `#[model(id)]` from `{}`",
                    field.ident
                ),
            );
        }
    }
}

/// A shallow member's template (E4): it holds the id once, as `{id}` (or
/// the id field's name), and its other placeholders are fields that are
/// also in the collection's path, so that a value's member path is built
/// from its own fields.
pub(super) fn check_member(
    cx: &Ctxt,
    input: &Input<'_>,
    id: Option<&Field<'_>>,
    collection: &[&Field<'_>],
) -> Option<Member> {
    let lit = input.attrs.member.as_ref()?;
    if input.attrs.singleton.is_some() {
        cx.error_spanned_by(
            lit,
            "a `singleton` has no members: it is the one resource at `path`; remove `member`",
        );
        return None;
    }
    let id = id?;
    let template = match Template::parse(&lit.value()) {
        Ok(template) => template,
        Err(message) => {
            cx.error_spanned_by(lit, message.replace("the path", "`member`"));
            return None;
        }
    };
    let id_name = id.ident.unraw().to_string();
    let is_id = |name: &str| name == "id" || name == id_name;
    let mut params = Vec::new();
    let mut ids = 0;
    let mut complete = true;
    for name in template.params() {
        if is_id(name) {
            ids += 1;
            continue;
        }
        let Some(field) = input.fields.iter().find(|f| f.ident.unraw() == name) else {
            let candidates: Vec<String> = input
                .fields
                .iter()
                .filter(|field| !std::ptr::eq(*field, id))
                .map(|field| field.ident.unraw().to_string())
                .collect();
            let message = unknown_placeholder(name, input.ident, &candidates).replacen(
                "in the path",
                "in `member`",
                1,
            );
            cx.error_spanned_by(lit, message);
            complete = false;
            continue;
        };
        match collection
            .iter()
            .position(|param| std::ptr::eq(*param, field))
        {
            Some(index) if !params.contains(&index) => params.push(index),
            Some(_) => {
                cx.error_spanned_by(
                    lit,
                    format!("`{{{name}}}` appears more than once in `member`"),
                );
                complete = false;
            }
            None => {
                cx.error_spanned_by(
                    lit,
                    format!(
                        "`{{{name}}}` in `member` is not in `path`: a member's path is built \
                         from the collection path's fields and the id; add `{{{name}}}` to \
                         `path` or remove it from `member`"
                    ),
                );
                complete = false;
            }
        }
    }
    if ids != 1 {
        let message = if ids == 0 {
            format!(
                "`member` must hold the id as `{{id}}`, as in `member = \"/comments/{{id}}\"`: \
                 it is the path of one member, named by its `{id_name}`"
            )
        } else {
            "the id appears more than once in `member`: write `{id}` once".to_owned()
        };
        cx.error_spanned_by(lit, message);
        complete = false;
    }
    let id = template
        .params()
        .find(|name| is_id(name))
        .map(str::to_owned)?;
    complete.then_some(Member {
        template,
        id,
        params,
    })
}
