//! What a failed derive emits next to its errors: stand-ins for the inherent
//! methods, so that the user's `Repo::fetch(&client, 42, 7)` does not add
//! "no function named `fetch`" errors that bury the real one.
//!
//! The stand-ins take any argument of any type for the path parameters and
//! the id, as many as the path seems to have, and return futures of the
//! real output types that never resolve; the program never links anyway.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ast::Input;
use crate::expand::{Outputs, Runtime};
use crate::template::{self, Template};

pub(crate) fn expand(input: &Input<'_>) -> TokenStream {
    let rt = Runtime::new(&input.attrs.krate());
    let Runtime { private } = &rt;
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

    let Outputs {
        one,
        all,
        saved,
        saved_all,
        destroyed,
    } = rt.outputs();
    let doc = format!("Unavailable: `#[derive(Model)]` on `{ident}` failed; see its error.");

    quote! {
        const _: () = {
            #[automatically_derived]
            #[allow(dead_code)]
            impl #ident {
                #[doc = #doc]
                #vis fn fetch<#(#params,)* __Id>(
                    _: &#private::Client, #(_: #params,)* _: __Id,
                ) -> #one {
                    #private::pending()
                }

                #[doc = #doc]
                #vis fn fetch_with<#(#params,)* __Id>(
                    _: &#private::Client, #(_: #params,)* _: __Id, _: #private::Fetch,
                ) -> #one {
                    #private::pending()
                }

                #[doc = #doc]
                #vis fn fetch_all<#(#params,)*>(_: &#private::Client, #(_: #params,)*) -> #all {
                    #private::pending()
                }

                #[doc = #doc]
                #vis fn fetch_all_with<#(#params,)*>(
                    _: &#private::Client, #(_: #params,)* _: #private::Fetch,
                ) -> #all {
                    #private::pending()
                }

                #[doc = #doc]
                #vis fn save<'a>(&'a self, _: &'a #private::Client) -> #saved {
                    #private::pending()
                }

                #[doc = #doc]
                #vis fn save_all<'a>(
                    _: &'a #private::Client,
                    _: impl #private::IntoIterator<Item = Self> + 'a,
                ) -> #saved_all {
                    #private::pending()
                }

                #[doc = #doc]
                #vis fn destroy<'a>(&'a self, _: &'a #private::Client) -> #destroyed {
                    #private::pending()
                }
            }
        };
    }
}
