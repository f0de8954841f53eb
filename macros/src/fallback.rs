//! What a failed derive emits next to its errors: stand-ins for the inherent
//! methods, one per row of `methods::METHODS`, so that the user's
//! `Repo::fetch(&client, 42, 7)` does not add "no function named `fetch`"
//! errors that bury the real one.
//!
//! The stand-ins take any argument of any type for the path parameters and
//! the id, as many as the path seems to have, and return futures of the
//! real output types that never resolve; the program never links anyway.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ast::Input;
use crate::expand::Runtime;
use crate::methods::{METHODS, Param};
use crate::template::{self, Template};

pub(crate) fn expand(input: &Input<'_>) -> TokenStream {
    let Runtime { private } = &Runtime::new(&input.attrs.krate());
    let ident = input.ident;
    let vis = input.vis;

    // The number of path parameters, as best we can tell.
    let arity = input.attrs.path.as_ref().map_or(0, |lit| {
        let path = lit.value();
        Template::parse(&path).map_or_else(
            |_| template::count_placeholders(&path),
            |template| template.params().count(),
        )
    });
    let params: Vec<_> = (0..arity).map(|i| format_ident!("__P{}", i)).collect();
    // A shallow member is fetched with its own template's parameters (E4);
    // a singleton has no id (E5).
    let singleton = input.attrs.singleton.is_some();
    let member_arity = input.attrs.member.as_ref().map(|lit| {
        let member = lit.value();
        Template::parse(&member)
            .map_or_else(
                |_| template::count_placeholders(&member),
                |template| template.params().count(),
            )
            .saturating_sub(1)
    });
    let member_params: Vec<_> = (0..member_arity.unwrap_or(arity))
        .map(|i| format_ident!("__P{}", i))
        .collect();
    let doc = format!("Unavailable: `#[derive(Model)]` on `{ident}` failed; see its error.");

    let methods = METHODS
        .iter()
        .filter(|method| method.singleton || !singleton)
        .map(|method| {
            let params = if method.by_member_path() {
                &member_params
            } else {
                &params
            };
            let mut generics = Vec::new();
            let mut inputs: Vec<TokenStream> = method.receiver().into_iter().collect();
            let client_ty = method.client_ty(private);
            inputs.push(quote!(_: #client_ty));
            for param in method.params {
                match param {
                    Param::Path => {
                        generics.extend(params.iter().map(|param| quote!(#param)));
                        inputs.extend(params.iter().map(|param| quote!(_: #param)));
                    }
                    Param::Id if singleton => {}
                    Param::Id => {
                        generics.push(quote!(__Id));
                        inputs.push(quote!(_: __Id));
                    }
                    Param::Options => inputs.push(quote!(_: #private::Fetch)),
                    Param::Items => {
                        let bound = method.bound();
                        inputs.push(quote!(_: impl #private::IntoIterator<Item = Self> + #bound));
                    }
                    Param::Original => {
                        let bound = method.bound();
                        inputs.push(quote!(_: &#bound Self));
                    }
                }
            }
            let name = method.ident();
            let generics = method.generics(generics);
            let output = method.output(private);
            let body = method.stand_in(private);
            quote! {
                #[doc = #doc]
                #vis fn #name #generics(#(#inputs,)*) #output {
                    #body
                }
            }
        });

    quote! {
        const _: () = {
            #[automatically_derived]
            #[allow(dead_code)]
            impl #ident {
                #(#methods)*
            }
        };
    }
}
