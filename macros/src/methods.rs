//! The inherent methods a derive gives a model, one row each. `expand`
//! renders every row as a wrapper of the `Model` trait's method of the same
//! name, `fallback` as a stand-in next to a failed derive's errors; a new
//! verb is one row here and its provided method on the trait.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

/// One generated method.
pub(crate) struct Method {
    /// Its name, and the name of the `Model` method it calls.
    pub(crate) name: &'static str,
    pub(crate) receiver: Receiver,
    /// What it takes after the client, which always comes first.
    pub(crate) params: &'static [Param],
    pub(crate) output: Output,
    pub(crate) lifetime: Lifetime,
    /// Its doc, from the model's names.
    pub(crate) doc: fn(&Doc<'_>) -> String,
    /// Whether a singleton has it (one that needs no collection).
    pub(crate) singleton: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receiver {
    /// An associated function: `Repo::fetch(&client, ..)`.
    None,
    /// A method of a value: `repo.save(&client)`.
    Ref,
}

#[derive(Clone, Copy)]
pub(crate) enum Param {
    /// The path's parameters, one argument each, in template order.
    Path,
    /// The model's id, unwrapped from its `Option`.
    Id,
    /// `Fetch`: how to fetch.
    Options,
    /// The models to save.
    Items,
    /// The value a patch is the difference from: `&Self`.
    Original,
}

/// What the returned future resolves to (`Self` is the model).
#[derive(Clone, Copy)]
pub(crate) enum Output {
    /// `Result<Arc<Self>, Error>`.
    One,
    /// `Result<Arc<Vec<Self>>, Error>`.
    All,
    /// `Result<Self, Error>`.
    Saved,
    /// `Result<Vec<Self>, SaveAllError<Self>>`.
    SavedAll,
    /// `Result<(), Error>`.
    Destroyed,
    /// Nothing: a synchronous method, not a future.
    Nothing,
    /// A `Stream` of `Result<Vec<Self>, Error>`.
    Pages,
    /// A `Stream` of `Result<Self, Error>`.
    Items,
}

/// What the returned future borrows.
#[derive(Clone, Copy)]
pub(crate) enum Lifetime {
    /// `'_`: the client alone.
    Elided,
    /// `'a`, declared by the method: the client and the receiver or items.
    Named,
}

/// The names a row's doc is written with.
pub(crate) struct Doc<'a> {
    /// The model's type.
    pub(crate) ident: &'a Ident,
    /// Its id field, unraw.
    pub(crate) id: &'a Ident,
    /// The collection's path template.
    pub(crate) path: &'a str,
    /// A member's path template.
    pub(crate) member: &'a str,
}

pub(crate) const METHODS: &[Method] = &[
    Method {
        name: "fetch",
        receiver: Receiver::None,
        params: &[Param::Path, Param::Id],
        output: Output::One,
        lifetime: Lifetime::Elided,
        singleton: true,
        doc: |doc| {
            let Doc {
                ident, id, member, ..
            } = doc;
            format!(
                "Fetches the `{ident}` with this `{id}`: `GET {member}`, shared with concurrent \
                 fetches of it and cached."
            )
        },
    },
    Method {
        name: "fetch_with",
        receiver: Receiver::None,
        params: &[Param::Path, Param::Id, Param::Options],
        output: Output::One,
        lifetime: Lifetime::Elided,
        singleton: true,
        doc: |doc| {
            let Doc { ident, id, .. } = doc;
            format!(
                "Fetches the `{ident}` with this `{id}` with options, such as `Fetch::reload()`."
            )
        },
    },
    Method {
        name: "fetch_all",
        receiver: Receiver::None,
        params: &[Param::Path],
        output: Output::All,
        lifetime: Lifetime::Elided,
        singleton: false,
        doc: |doc| {
            let Doc { ident, path, .. } = doc;
            format!(
                "Fetches every `{ident}`: `GET {path}`, shared with concurrent fetches and cached."
            )
        },
    },
    Method {
        name: "fetch_all_with",
        receiver: Receiver::None,
        params: &[Param::Path, Param::Options],
        output: Output::All,
        lifetime: Lifetime::Elided,
        singleton: false,
        doc: |doc| {
            let Doc { ident, .. } = doc;
            format!("Fetches every `{ident}` with options, such as `Fetch::reload()`.")
        },
    },
    Method {
        name: "save",
        receiver: Receiver::Ref,
        params: &[],
        output: Output::Saved,
        lifetime: Lifetime::Named,
        singleton: true,
        doc: |doc| {
            let Doc {
                ident,
                id,
                path,
                member,
            } = doc;
            format!(
                "Saves this `{ident}`: `POST {path}` while its `{id}` is `None`, otherwise \
                 `PUT {member}`. Returns the server's representation of it."
            )
        },
    },
    Method {
        name: "save_all",
        receiver: Receiver::None,
        params: &[Param::Items],
        output: Output::SavedAll,
        lifetime: Lifetime::Named,
        singleton: true,
        doc: |doc| {
            let Doc { ident, .. } = doc;
            format!(
                "Saves every `{ident}` concurrently, all or fail: the saved values in input \
                 order, or an error telling which were saved and handing back the others."
            )
        },
    },
    // ---- E2, E3, E5 (wt-api) ----
    Method {
        name: "create",
        receiver: Receiver::Ref,
        params: &[],
        output: Output::Saved,
        lifetime: Lifetime::Named,
        singleton: false,
        doc: |doc| {
            let Doc { ident, path, .. } = doc;
            format!(
                "Creates this `{ident}`: always `POST {path}`, with an `Idempotency-Key`, \
                 whatever its id. Returns the server's representation of it."
            )
        },
    },
    Method {
        name: "update",
        receiver: Receiver::Ref,
        params: &[],
        output: Output::Saved,
        lifetime: Lifetime::Named,
        singleton: true,
        doc: |doc| {
            let Doc { ident, member, .. } = doc;
            format!(
                "Replaces this `{ident}` on the server: always `PUT {member}` of the whole \
                 value (fields the struct does not name are lost); an error without an id."
            )
        },
    },
    Method {
        name: "patch",
        receiver: Receiver::Ref,
        params: &[Param::Original],
        output: Output::Saved,
        lifetime: Lifetime::Named,
        singleton: true,
        doc: |doc| {
            let Doc { ident, member, .. } = doc;
            format!(
                "Sends what differs between `original` and this `{ident}`: `PATCH {member}` \
                 with an RFC 7396 merge patch; nothing is sent when nothing differs."
            )
        },
    },
    Method {
        name: "pages",
        receiver: Receiver::None,
        params: &[Param::Path, Param::Options],
        output: Output::Pages,
        lifetime: Lifetime::Elided,
        singleton: false,
        doc: |doc| {
            let Doc { ident, path, .. } = doc;
            format!(
                "Every `{ident}` of `GET {path}`, one page at a time, following the `Link` \
                 header's `rel=\"next\"` (or the options' `Paging`); lazy, not cached."
            )
        },
    },
    Method {
        name: "stream_all",
        receiver: Receiver::None,
        params: &[Param::Path, Param::Options],
        output: Output::Items,
        lifetime: Lifetime::Elided,
        singleton: false,
        doc: |doc| {
            let Doc { ident, path, .. } = doc;
            format!(
                "Every `{ident}` of `GET {path}`, one at a time over its pages: a page is \
                 requested only when the items before it have been taken."
            )
        },
    },
    // ---- end E2, E3, E5 ----
    Method {
        name: "destroy",
        receiver: Receiver::Ref,
        params: &[],
        output: Output::Destroyed,
        lifetime: Lifetime::Named,
        singleton: true,
        doc: |doc| {
            let Doc {
                ident, id, member, ..
            } = doc;
            format!(
                "Deletes this `{ident}`: `DELETE {member}`, or nothing while its `{id}` is \
                 `None`."
            )
        },
    },
    Method {
        name: "invalidate",
        singleton: true,
        receiver: Receiver::None,
        params: &[Param::Path, Param::Id],
        output: Output::Nothing,
        lifetime: Lifetime::Elided,
        doc: |doc| {
            let Doc {
                ident, id, member, ..
            } = doc;
            format!(
                "Drops the `{ident}` with this `{id}` (`{member}`) from the client's cache, \
                 without a request: the next fetch of it sends one."
            )
        },
    },
    Method {
        name: "invalidate_all",
        singleton: true,
        receiver: Receiver::None,
        params: &[],
        output: Output::Nothing,
        lifetime: Lifetime::Elided,
        doc: |doc| {
            let Doc { ident, .. } = doc;
            format!(
                "Drops every `{ident}` and every list of them from the client's cache, \
                 without a request."
            )
        },
    },
];

/// The pieces of a row that both renderings share; `private` is the path
/// to `{crate}::__private`.
impl Method {
    pub(crate) fn ident(&self) -> Ident {
        format_ident!("{}", self.name)
    }

    /// `<'a, ..>` with `more` generic parameters after the lifetime, or
    /// nothing when there are none.
    pub(crate) fn generics(&self, more: Vec<TokenStream>) -> TokenStream {
        let generics: Vec<TokenStream> = self.named().into_iter().chain(more).collect();
        if generics.is_empty() {
            TokenStream::new()
        } else {
            quote!(<#(#generics),*>)
        }
    }

    /// `&self` or `&'a self`, if the method has a receiver.
    pub(crate) fn receiver(&self) -> Option<TokenStream> {
        let lifetime = self.named();
        (self.receiver == Receiver::Ref).then(|| quote!(&#lifetime self))
    }

    /// `&Client` or `&'a Client`.
    pub(crate) fn client_ty(&self, private: &TokenStream) -> TokenStream {
        let lifetime = self.named();
        quote!(&#lifetime #private::Client)
    }

    /// The bound of an `impl Trait` that borrows as the future does.
    pub(crate) fn bound(&self) -> TokenStream {
        self.named().unwrap_or_else(|| quote!('_))
    }

    /// `-> impl Future<Output = ..> + Send + '_`, or nothing for a method
    /// that returns nothing.
    pub(crate) fn output(&self, private: &TokenStream) -> TokenStream {
        let result = |ok: TokenStream| quote!(#private::Result<#ok, #private::Error>);
        let output = match self.output {
            Output::One => result(quote!(#private::Arc<Self>)),
            Output::All => result(quote!(#private::Arc<#private::Vec<Self>>)),
            Output::Saved => result(quote!(Self)),
            Output::SavedAll => {
                quote!(#private::Result<#private::Vec<Self>, #private::SaveAllError<Self>>)
            }
            Output::Destroyed => result(quote!(())),
            Output::Nothing => return TokenStream::new(),
            Output::Pages => {
                let item = result(quote!(#private::Vec<Self>));
                return quote!(-> impl #private::Stream<Item = #item> + #private::Send + 'static);
            }
            Output::Items => {
                let item = result(quote!(Self));
                return quote!(-> impl #private::Stream<Item = #item> + #private::Send + 'static);
            }
        };
        let bound = self.bound();
        quote!(-> impl #private::Future<Output = #output> + #private::Send + #bound)
    }

    /// The body of a stand-in for a failed derive: a future or a stream
    /// that never ends, or nothing.
    pub(crate) fn stand_in(&self, private: &TokenStream) -> TokenStream {
        match self.output {
            Output::Nothing => TokenStream::new(),
            Output::Pages | Output::Items => quote!(#private::pending_stream()),
            _ => quote!(#private::pending()),
        }
    }

    /// Whether a shallow member's wrapper takes the member template's own
    /// parameters and fetches the path they build (E4): the fetches of one
    /// member. Other rows with an id take the collection's parameters.
    pub(crate) fn by_member_path(&self) -> bool {
        matches!(self.name, "fetch" | "fetch_with")
    }

    /// `'a`, if the method declares it.
    fn named(&self) -> Option<TokenStream> {
        match self.lifetime {
            Lifetime::Elided => None,
            Lifetime::Named => Some(quote!('a)),
        }
    }
}
