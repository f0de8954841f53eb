//! The member path of the shapes beyond a plain collection: a singleton's
//! is its path (E5), a shallow member's its own template (E4), written in
//! place as `write_member_path`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Index;

use super::{Runtime, on};
use crate::check::Model;
use crate::template::Piece;

/// `write_member_path` when it is not the collection's plus `/{id}`: a
/// singleton's is its path (E5), a shallow member's its own template, with
/// the collection's parameters it names (E4).
pub(super) fn member_path(model: &Model<'_>, rt: &Runtime) -> Option<TokenStream> {
    let Runtime { private } = rt;
    if model.singleton {
        return Some(quote! {
            fn write_member_path(
                __params: &Self::Params,
                _: &Self::Id,
                __path: &mut #private::String,
            ) {
                <Self as #private::Model>::write_collection_path(__params, __path);
            }
        });
    }
    let member = model.member.as_ref()?;
    let mut params = member.params.iter();
    let pushes = member.template.pieces.iter().map(|piece| match piece {
        Piece::Literal(text) => quote!(__path.push_str(#text);),
        Piece::Param(name) if *name == member.id => {
            quote!(#private::push_param(__path, __id);)
        }
        Piece::Param(_) => match params.next() {
            Some(&index) => {
                let field = model.params[index];
                let index = Index::from(index);
                let arg = on(field.ty, quote!(&__params.#index));
                quote!(#private::push_param(__path, #arg);)
            }
            None => TokenStream::new(),
        },
    });
    let unused = member.params.is_empty().then(|| quote!(let _ = __params;));
    Some(quote! {
        fn write_member_path(
            __params: &Self::Params,
            __id: &Self::Id,
            __path: &mut #private::String,
        ) {
            #unused
            #(#pushes)*
        }
    })
}
