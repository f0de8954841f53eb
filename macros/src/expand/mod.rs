//! Code generation: for a checked model, the `Model` impl and the inherent
//! wrappers users call. Everything is glue into the runtime, named by
//! absolute path through `{crate}::__private`; the logic lives there.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident, Index, Path, Type};

use crate::ast::{Field, Input};
use crate::check::{self, Model};
use crate::ctxt::Ctxt;
use crate::fallback;
use crate::methods::{Doc, METHODS, Param};
use crate::template::Piece;

/// Room reserved in a path string for each parameter, and for the `/{id}`
/// that `member_path` appends: a `u64` in decimal, so that building a
/// member's path usually allocates once.
const PARAM_CAPACITY: usize = 20;

mod paths;
use paths::member_path;

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
    let requirements = requirements(model, &rt);
    let model_impl = model_impl(model, &rt);
    let wrappers = wrappers(model, &rt);
    quote! {
        const _: () = {
            #requirements
            #model_impl
            #wrappers
        };
    }
}

/// One check per trait a model must implement (E7), spanned on the
/// struct's name: a missing `Clone`, `Serialize` or `Deserialize` is one
/// error there, whose help names the derive to add.
fn requirements(model: &Model<'_>, rt: &Runtime) -> TokenStream {
    let Runtime { private } = rt;
    let ident = model.ident;
    let checks = [
        quote!(#private::Clone),
        quote!(#private::Serialize),
        quote!(for<'de> #private::Deserialize<'de>),
        quote!(#private::Send),
        quote!(#private::Sync),
    ]
    .into_iter()
    .map(|bound| {
        let check = quote_spanned!(ident.span()=> __requires::<#ident>);
        quote! {
            {
                fn __requires<__T: #bound>() {}
                let _ = #check;
            }
        }
    });
    quote! {
        const _: () = {
            #(#checks)*
        };
    }
}

/// `impl Model`: the description of the resource; the operations are the
/// trait's provided methods.
fn model_impl(model: &Model<'_>, rt: &Runtime) -> TokenStream {
    let Runtime { private } = rt;
    let ident = model.ident;
    let id_ty = match model.id {
        Some((_, id_ty)) => quote!(#id_ty),
        None => quote!(#private::NoId),
    };
    let param_tys = model.params.iter().map(|field| field.ty);

    let capacity = model.template.literal_len() + PARAM_CAPACITY * (model.params.len() + 1) + 1;
    let mut params = model.params.iter().enumerate();
    let pushes = model.template.pieces.iter().map(|piece| match piece {
        Piece::Literal(text) => quote!(__path.push_str(#text);),
        Piece::Param(_) => match params.next() {
            Some((index, field)) => {
                let index = Index::from(index);
                let arg = on(field.ty, quote!(&__params.#index));
                quote!(#private::push_param(__path, #arg);)
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

    let id_body = match model.id {
        Some((field, _)) => {
            let id_member = field.ident;
            let id_arg = on(field.ty, quote!(&self.#id_member));
            quote!(#private::Option::as_ref(#id_arg))
        }
        // A singleton is never new: `save` PUTs to its path (E5).
        None => quote!(#private::Option::Some(&#private::NoId)),
    };
    let member_path = member_path(model, rt);
    let envelope = model.envelope.as_ref().map(|name| {
        quote!(const ENVELOPE: #private::Option<&'static #private::str> = #private::Option::Some(#name);)
    });

    // T1: the member template as written, for tools that serve the routes.
    let member_template = model.member.as_ref().map(|member| {
        let template = member.template.to_string();
        quote!(const MEMBER: #private::Option<&'static #private::str> = #private::Option::Some(#template);)
    });

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

    let path = model.template.to_string();
    // A singleton has no id field, and so no name for one.
    let id_field = model.id.map_or("", |(field, _)| field.json_name.as_str());

    // The supertraits as a bound the impl holds under (E7): a model missing
    // one has no impl, rather than an error per generated method; the
    // `requirements` below report it once. (`for<'__a>` keeps the bound
    // from being checked as trivially false.)
    quote! {
        #[automatically_derived]
        impl #private::Model for #ident
        where
            for<'__a> #ident: #private::Serialize + #private::DeserializeOwned + #private::Clone
                + #private::Send + #private::Sync,
        {
            type Id = #id_ty;
            type Params = (#(#param_tys,)*);
            const PATH: &'static #private::str = #path;
            const ID_FIELD: &'static #private::str = #id_field;
            const NAME: &'static #private::str = #name;
            #reload
            #max_age
            #stale
            #envelope
            #member_template

            fn collection_path(__params: &Self::Params) -> #private::String {
                let mut __path = #private::String::with_capacity(#capacity);
                <Self as #private::Model>::write_collection_path(__params, &mut __path);
                __path
            }

            fn write_collection_path(__params: &Self::Params, __path: &mut #private::String) {
                #(#pushes)*
            }
            #member_path

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
    let id_name = model
        .id
        .map_or_else(|| format_ident!("id"), |(field, _)| field.ident.unraw());
    let member = match (&model.member, model.singleton) {
        (Some(member), _) => member.template.to_string(),
        (None, true) => path.clone(),
        (None, false) => format!("{path}/{{{id_name}}}"),
    };
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
        .copied()
        .chain(model.id.map(|(field, _)| field))
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
    let id = model.id.map(|(field, _)| field.ident);
    let id_ty = model.id.map(|(_, ty)| ty);
    let model_trait = quote!(<Self as #private::Model>);
    // A shallow member is fetched with the member path's own parameters
    // (E4), through a path built by a hidden function of the model.
    let member_fields: Vec<&Field<'_>> = model.member.as_ref().map_or_else(Vec::new, |member| {
        member
            .params
            .iter()
            .map(|&index| model.params[index])
            .collect()
    });
    let member_names: Vec<&Ident> = member_fields.iter().map(|field| field.ident).collect();

    let methods = METHODS.iter().filter(|method| method.singleton || !model.singleton).map(|method| {
        let shallow = model.member.is_some() && method.by_member_path();
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
                Param::Path if shallow => {
                    inputs.extend(member_fields.iter().map(|field| {
                        let (name, ty) = (field.ident, field.ty);
                        quote!(#name: #ty)
                    }));
                }
                Param::Path => {
                    inputs.extend(model.params.iter().map(|field| {
                        let (name, ty) = (field.ident, field.ty);
                        quote!(#name: #ty)
                    }));
                    args.push(tuple.clone());
                }
                Param::Id => match (id, id_ty) {
                    (Some(id), Some(id_ty)) => {
                        inputs.push(quote!(#id: #id_ty));
                        if shallow {
                            args.push(quote!(Self::__backrest_member_path(#(#member_names,)* &#id)));
                        } else {
                            args.push(quote!(#id));
                        }
                    }
                    _ => args.push(quote!(#private::NoId)),
                },
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
                Param::Original => {
                    let bound = method.bound();
                    inputs.push(quote!(original: &#bound Self));
                    args.push(quote!(original));
                }
            }
        }
        let doc = (method.doc)(&doc);
        let name = method.ident();
        let generics = method.generics(Vec::new());
        let output = method.output(private);
        let callee = if shallow {
            if !method.params.iter().any(|p| matches!(p, Param::Options)) {
                args.push(quote!(#private::Fetch::new()));
            }
            quote!(#private::fetch_at::<Self>)
        } else {
            quote!(#model_trait::#name)
        };
        quote! {
            #[doc = #doc]
            #vis fn #name #generics(#(#inputs),*) #output
            where
                for<'__a> Self: #private::Model,
            {
                #callee(#(#args),*)
            }
        }
    });
    let member_helper = model.member.as_ref().zip(id_ty).map(|(member, id_ty)| {
        let inputs = member_fields.iter().map(|field| {
            let (name, ty) = (field.ident, field.ty);
            quote!(#name: #ty)
        });
        let pushes = member.template.pieces.iter().scan(0, |next, piece| {
            Some(match piece {
                Piece::Literal(text) => quote!(__path.push_str(#text);),
                Piece::Param(name) if *name == member.id => {
                    quote!(#private::push_param(&mut __path, __id);)
                }
                Piece::Param(_) => {
                    let field = member_fields[*next];
                    *next += 1;
                    let name = field.ident;
                    let arg = on(field.ty, quote!(&#name));
                    quote!(#private::push_param(&mut __path, #arg);)
                }
            })
        });
        quote! {
            #[doc(hidden)]
            fn __backrest_member_path(#(#inputs,)* __id: &#id_ty) -> #private::String {
                let mut __path = #private::String::new();
                #(#pushes)*
                __path
            }
        }
    });

    quote! {
        #[automatically_derived]
        #[allow(dead_code)]
        impl #ident {
            #(#methods)*
            #member_helper
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
