//! The input as backrest sees it: a non-generic struct with named fields,
//! with its `#[model(...)]` attributes read. Any other shape of input is
//! reported here, once.

use quote::quote;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

use crate::attr;
use crate::ctxt::Ctxt;
use crate::serde_name;

/// A struct that `Model` can be derived for.
pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) vis: &'a Visibility,
    pub(crate) attrs: attr::Container,
    pub(crate) fields: Vec<Field<'a>>,
}

/// One of its named fields.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: attr::Field,
    /// Its name in JSON, as serde writes it (see `serde_name`).
    pub(crate) json_name: String,
}

impl<'a> Input<'a> {
    /// The input, or `None` after recording why `Model` cannot be derived
    /// for it. The attributes of a generic struct are still read, so that
    /// their mistakes are reported with it.
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let data = match &input.data {
            Data::Struct(data) => data,
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "`Model` cannot be derived for an enum: a model is a struct with named \
                     fields, one of them `#[model(id)]`",
                );
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "`Model` cannot be derived for a union: a model is a struct with named \
                     fields, one of them `#[model(id)]`",
                );
                return None;
            }
        };
        let named = match &data.fields {
            Fields::Named(named) => named,
            Fields::Unnamed(unnamed) => {
                cx.error_spanned_by(
                    unnamed,
                    "`Model` cannot be derived for a tuple struct: name the fields, so that the \
                     path's `{placeholders}` and `#[model(id)]` can refer to them",
                );
                return None;
            }
            Fields::Unit => {
                let (struct_token, ident) = (&data.struct_token, &input.ident);
                cx.error_spanned_by(
                    quote!(#struct_token #ident),
                    "`Model` cannot be derived for a unit struct: a model has named fields, \
                     one of them `#[model(id)]`",
                );
                return None;
            }
        };

        let attrs = attr::Container::from_attrs(cx, &input.attrs);
        let fields = named
            .named
            .iter()
            .filter_map(|field| {
                let ident = field.ident.as_ref()?;
                let name = ident.unraw().to_string();
                Some(Field {
                    ident,
                    ty: &field.ty,
                    attrs: attr::Field::from_attrs(cx, &field.attrs),
                    json_name: serde_name::json_name(&name, &field.attrs, &input.attrs),
                })
            })
            .collect();

        let generics = &input.generics;
        if !generics.params.is_empty() {
            let message = if generics.type_params().next().is_none()
                && generics.const_params().next().is_none()
            {
                "`Model` cannot be derived for a struct with lifetime parameters: a model owns \
                 its data (it is `DeserializeOwned + 'static`), so use owned types such as \
                 `String` for its fields"
            } else {
                "`Model` cannot be derived for a generic struct yet: remove the generic \
                 parameters"
            };
            cx.error_spanned_by(generics, message);
            return None;
        }
        if let Some(where_clause) = &generics.where_clause {
            cx.error_spanned_by(
                where_clause,
                "`Model` cannot be derived for a struct with a `where` clause yet: remove it",
            );
            return None;
        }

        Some(Input {
            ident: &input.ident,
            vis: &input.vis,
            attrs,
            fields,
        })
    }
}
