//! Code generation: for a checked model, the `Model` impl and the inherent
//! wrappers users call. Everything is glue into the runtime, named by
//! absolute path through `{crate}::__private`; the logic lives there.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident, Index, Path, Type};

use crate::ast::Input;
use crate::check::{self, Model};
use crate::ctxt::Ctxt;
use crate::fallback;
use crate::methods::{Doc, METHODS, Param};
use crate::template::Piece;

/// Room reserved in a path string for each parameter, and for the `/{id}`
/// that `member_path` appends: a `u64` in decimal, so that building a
/// member's path usually allocates once.
const PARAM_CAPACITY: usize = 20;

/// The whole derive: read, check, generate; on errors, the errors and
/// whatever keeps them from cascading into the user's code.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let Some(ast) = Input::from_syn(&cx, input) else {
        return match cx.check() {
            Ok(()) => internal_error(input),
            Err(errors) => errors.to_compile_error(),
        };
    };
    let model = check::check(&cx, &ast);
    match (cx.check(), model) {
        (Ok(()), Some(model)) => expand(&model),
        // Mistakes that leave the model whole (a repeated key, a second id)
        // still expand to the real code, so the user's calls type-check.
        (Err(errors), Some(model)) => {
            let mut tokens = errors.to_compile_error();
            tokens.extend(expand(&model));
            tokens
        }
        (Err(errors), None) => {
            let mut tokens = errors.to_compile_error();
            tokens.extend(fallback::expand(&ast));
            tokens
        }
        (Ok(()), None) => internal_error(input),
    }
}

fn internal_error(input: &DeriveInput) -> TokenStream {
    syn::Error::new_spanned(
        &input.ident,
        "internal error in `#[derive(Model)]`: the input was rejected without an error; \
         please report it",
    )
    .to_compile_error()
}

fn expand(model: &Model<'_>) -> TokenStream {
    let rt = Runtime::new(&model.krate);
    let model_impl = model_impl(model, &rt);
    let wrappers = wrappers(model, &rt);
    quote! {
        const _: () = {
            #model_impl
            #wrappers
        };
    }
}

/// `impl Model`: the description of the resource; the operations are the
/// trait's provided methods.
fn model_impl(model: &Model<'_>, rt: &Runtime) -> TokenStream {
    let Runtime { private } = rt;
    let ident = model.ident;
    let id_ty = model.id_ty;
    let param_tys = model.params.iter().map(|field| field.ty);

    let capacity = model.template.literal_len() + PARAM_CAPACITY * (model.params.len() + 1) + 1;
    let mut params = model.params.iter().enumerate();
    let pushes = model.template.pieces.iter().map(|piece| match piece {
        Piece::Literal(text) => quote!(__path.push_str(#text);),
        Piece::Param(_) => match params.next() {
            Some((index, field)) => {
                let index = Index::from(index);
                let arg = on(field.ty, quote!(&__params.#index));
                quote!(#private::push_param(&mut __path, #arg);)
            }
            None => TokenStream::new(),
        },
    });

    let clones = model.params.iter().map(|field| {
        let member = field.ident;
        let arg = on(field.ty, quote!(&self.#member));
        quote!(#private::Clone::clone(#arg))
    });
    let params_body = if model.params.is_empty() {
        TokenStream::new()
    } else {
        quote!((#(#clones,)*))
    };

    let id_member = model.id.ident;
    let id_arg = on(model.id.ty, quote!(&self.#id_member));
    let id_body = quote!(#private::Option::as_ref(#id_arg));

    let reload = model
        .reload
        .then(|| quote!(const RELOAD: #private::bool = true;));
    let duration = |name: TokenStream, millis: Option<u64>| {
        millis.map(|millis| {
            quote! {
                const #name: #private::Option<#private::Duration> =
                    #private::Option::Some(#private::Duration::from_millis(#millis));
            }
        })
    };
    let max_age = duration(quote!(MAX_AGE), model.max_age);
    let name = match &model.name {
        Some(name) => quote!(#name),
        None => {
            let ident = ident.unraw().to_string();
            quote!(#private::concat!(#private::module_path!(), "::", #ident))
        }
    };
    let stale = duration(quote!(STALE_WHILE_REVALIDATE), model.stale_while_revalidate);

    let etag = model.etag.map(|field| {
        let member = field.ident;
        let get = on(field.ty, quote!(&self.#member));
        quote! {
            fn etag(&self) -> #private::Option<&#private::str> {
                #private::Option::as_deref(#get)
            }

            fn set_etag(&mut self, __etag: #private::Option<#private::String>) {
                self.#member = __etag;
            }
        }
    });

    quote! {
        #[automatically_derived]
        impl #private::Model for #ident {
            type Id = #id_ty;
            type Params = (#(#param_tys,)*);
            const NAME: &'static #private::str = #name;
            #reload
            #max_age
            #stale

            fn collection_path(__params: &Self::Params) -> #private::String {
                let mut __path = #private::String::with_capacity(#capacity);
                #(#pushes)*
                __path
            }

            fn params(&self) -> Self::Params {
                #params_body
            }

            fn id(&self) -> #private::Option<&Self::Id> {
                #id_body
            }

            #etag
        }
    }
}

/// The inherent methods users call, one per row of `METHODS`: the path
/// parameters one by one, in template order and typed as their fields, then
/// the id; each a one-line call of the trait's method.
fn wrappers(model: &Model<'_>, rt: &Runtime) -> TokenStream {
    let Runtime { private } = rt;
    let ident = model.ident;
    let vis = model.vis;
    let path = model.template.to_string();
    let id_name = model.id.ident.unraw();
    let member = format!("{path}/{{{id_name}}}");
    let doc = Doc {
        ident,
        id: &id_name,
        path: &path,
        member: &member,
    };

    // Parameters are named after their fields; `client` and `options` give
    // way if a field already took the name.
    let taken: Vec<String> = model
        .params
        .iter()
        .chain([&model.id])
        .map(|field| field.ident.unraw().to_string())
        .collect();
    let free = |name: &str| {
        if taken.iter().any(|taken| taken == name) {
            format_ident!("__{name}")
        } else {
            format_ident!("{name}")
        }
    };
    let client = free("client");
    let options = free("options");

    let names: Vec<&Ident> = model.params.iter().map(|field| field.ident).collect();
    let tuple = quote!((#(#names,)*));
    let id = model.id.ident;
    let id_ty = model.id_ty;
    let model_trait = quote!(<Self as #private::Model>);

    let methods = METHODS.iter().map(|method| {
        let (mut inputs, mut args) = (Vec::new(), Vec::new());
        if let Some(receiver) = method.receiver() {
            inputs.push(receiver);
            args.push(quote!(self));
        }
        let client_ty = method.client_ty(private);
        inputs.push(quote!(#client: #client_ty));
        args.push(quote!(#client));
        for param in method.params {
            match param {
                Param::Path => {
                    inputs.extend(model.params.iter().map(|field| {
                        let (name, ty) = (field.ident, field.ty);
                        quote!(#name: #ty)
                    }));
                    args.push(tuple.clone());
                }
                Param::Id => {
                    inputs.push(quote!(#id: #id_ty));
                    args.push(quote!(#id));
                }
                Param::Options => {
                    inputs.push(quote!(#options: #private::Fetch));
                    args.push(quote!(#options));
                }
                Param::Items => {
                    let bound = method.bound();
                    inputs.push(quote! {
                        items: impl #private::IntoIterator<Item = Self, IntoIter: #private::Send> + #bound
                    });
                    args.push(quote!(items));
                }
            }
        }
        let doc = (method.doc)(&doc);
        let name = method.ident();
        let generics = method.generics(Vec::new());
        let output = method.output(private);
        quote! {
            #[doc = #doc]
            #vis fn #name #generics(#(#inputs),*) -> #output {
                #model_trait::#name(#(#args),*)
            }
        }
    });

    quote! {
        #[automatically_derived]
        #[allow(dead_code)]
        impl #ident {
            #(#methods)*
        }
    }
}

/// An argument spanned on the user's `ty`, so that an unmet bound of the
/// call it is passed to ("`Vec<u8>: PathParam` is not satisfied") points at
/// the field's type, not at the derive. (The callee keeps its own span: a
/// path spanned on user tokens is linted as if the user had written it.)
fn on(ty: &Type, arg: TokenStream) -> TokenStream {
    respan(arg, ty.span())
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                token = TokenTree::Group(respanned);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// The paths of the runtime's items, through `{crate}::__private`.
pub(crate) struct Runtime {
    pub(crate) private: TokenStream,
}

impl Runtime {
    pub(crate) fn new(krate: &Path) -> Self {
        Runtime {
            private: quote!(#krate::__private),
        }
    }
}
