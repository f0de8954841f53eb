//! Reading `#[model(...)]` on the struct and on its fields.
//!
//! Every key is checked where it is written: an unknown, misplaced or
//! repeated key is an error spanned on the key, recorded in the [`Ctxt`]
//! without stopping, so that the keys after it are still read and every
//! mistake is reported at once.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Ident, LitStr, Meta, Path, Token};

use crate::ctxt::Ctxt;
use crate::duration;
use crate::message;
use crate::symbol::{
    CRATE, ENVELOPE, ETAG, FIELD_KEYS, ID, MAX_AGE, MEMBER, MODEL, NAME, PATH, RELOAD, SERDE,
    SERDE_SKIP, SERDE_SKIP_DESERIALIZING, SERDE_SKIP_SERIALIZING, SINGLETON,
    STALE_WHILE_REVALIDATE, STRUCT_KEYS,
};

/// `#[model(...)]` on the struct.
pub(crate) struct Container {
    /// `path = "..."`, as written, so that errors can point at it.
    pub(crate) path: Option<LitStr>,
    /// `reload`, and its key, which errors point at.
    pub(crate) reload: Option<Path>,
    /// `max_age = "30s"`: its key, and the duration in milliseconds.
    pub(crate) max_age: Option<(Path, u64)>,
    /// `stale_while_revalidate = "5m"`: its key, and the duration in
    /// milliseconds.
    pub(crate) stale_while_revalidate: Option<(Path, u64)>,
    // ---- E4, E5, E6 ----
    /// `member = "..."`, a shallow member's path, as written.
    pub(crate) member: Option<LitStr>,
    /// The `singleton` key, if written: errors about it point at it.
    pub(crate) singleton: Option<Path>,
    /// `envelope = "..."`, checked to be a non-empty name.
    pub(crate) envelope: Option<LitStr>,
    /// Whether `singleton` was written, even if rejected: then a missing
    /// id is not an error of its own.
    pub(crate) singleton_mentioned: bool,
    // ---- end E4, E5, E6 ----
    /// `name = "..."`, a non-empty stable name for shared caches (F1).
    pub(crate) name: Option<LitStr>,
    /// `crate = "..."`, parsed.
    pub(crate) krate: Option<Path>,
    /// Whether something meant as `path` was written, even if rejected (a
    /// bad value, a misspelled key): its error is enough, without "missing
    /// path" too.
    pub(crate) path_mentioned: bool,
}

/// `#[model(...)]` on a field.
pub(crate) struct Field {
    /// The `id` key, if written: errors about the id point at it.
    pub(crate) id: Option<Path>,
    /// Whether something meant as `id` was written, even if rejected.
    pub(crate) id_mentioned: bool,
    /// The `etag` key, if written: errors about the etag point at it.
    pub(crate) etag: Option<Path>,
    /// Whether `#[serde(...)]` keeps the field out of bodies both ways.
    pub(crate) serde_skip: bool,
}

impl Container {
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut path = Attr::new(cx, PATH);
        let mut reload = Attr::new(cx, RELOAD);
        let mut krate = Attr::new(cx, CRATE);
        let mut max_age = Attr::new(cx, MAX_AGE);
        let mut stale = Attr::new(cx, STALE_WHILE_REVALIDATE);
        let mut member = Attr::new(cx, MEMBER);
        let mut singleton = Attr::new(cx, SINGLETON);
        let mut envelope = Attr::new(cx, ENVELOPE);
        let mut name = Attr::new(cx, NAME);
        let mut path_mentioned = false;
        let mut singleton_mentioned = false;

        for attr in model_attrs(attrs) {
            let listed = parse_keys(cx, attr, "path = \"/repos\"", |meta| {
                if meta.path.is_ident(PATH) {
                    path_mentioned = true;
                    if let Some(value) = string_value(cx, &meta, "\"/repos\"")? {
                        path.set(&meta.path, value);
                    }
                } else if meta.path.is_ident(RELOAD) {
                    if flag(cx, &meta)? {
                        reload.set(&meta.path, meta.path.clone());
                    }
                } else if meta.path.is_ident(MAX_AGE) {
                    if let Some(millis) = duration_value(cx, &meta, "\"30s\"")? {
                        max_age.set(&meta.path, (meta.path.clone(), millis));
                    }
                } else if meta.path.is_ident(STALE_WHILE_REVALIDATE) {
                    if let Some(millis) = duration_value(cx, &meta, "\"5m\"")? {
                        stale.set(&meta.path, (meta.path.clone(), millis));
                    }
                } else if meta.path.is_ident(MEMBER) {
                    if let Some(value) = string_value(cx, &meta, "\"/comments/{id}\"")? {
                        member.set(&meta.path, value);
                    }
                } else if meta.path.is_ident(SINGLETON) {
                    singleton_mentioned = true;
                    if flag(cx, &meta)? {
                        singleton.set(&meta.path, meta.path.clone());
                    }
                } else if meta.path.is_ident(ENVELOPE) {
                    if let Some(value) = string_value(cx, &meta, "\"data\"")? {
                        if value.value().is_empty() {
                            cx.error_spanned_by(
                                &value,
                                "`envelope` names the member of the JSON object that bodies \
                                 travel in, such as `envelope = \"data\"`: it cannot be empty",
                            );
                        } else {
                            envelope.set(&meta.path, value);
                        }
                    }
                } else if meta.path.is_ident(NAME) {
                    if let Some(value) = string_value(cx, &meta, "\"billing.Invoice\"")? {
                        if value.value().trim().is_empty() {
                            cx.error_spanned_by(
                                &value,
                                "`name` must not be empty: it names the model in a shared \
                                 cache's keys, such as `name = \"billing.Invoice\"`; without \
                                 `name`, the type's path is used",
                            );
                        } else {
                            name.set(&meta.path, value);
                        }
                    }
                } else if meta.path.is_ident(CRATE) {
                    if let Some(value) = string_value(cx, &meta, "\"::backrest\"")? {
                        match value.parse_with(Path::parse_mod_style) {
                            Ok(parsed) => krate.set(&meta.path, parsed),
                            Err(_) => cx.error_spanned_by(
                                &value,
                                "`crate` must be the path to the backrest crate, \
                                 such as `crate = \"::backrest\"`",
                            ),
                        }
                    }
                } else if meta.path.is_ident(ID) {
                    cx.error_spanned_by(
                        &meta.path,
                        "`#[model(id)]` belongs on the field holding the id, not on the struct",
                    );
                    skip_value(&meta)?;
                } else if meta.path.is_ident(ETAG) {
                    cx.error_spanned_by(
                        &meta.path,
                        "`#[model(etag)]` belongs on the field holding the `ETag`, an \
                         `Option<String>`, not on the struct",
                    );
                    skip_value(&meta)?;
                } else {
                    let near = unknown_key(cx, &meta, "the struct", STRUCT_KEYS)?;
                    path_mentioned |= near == Some(PATH);
                }
                Ok(())
            });
            path_mentioned |= !listed;
        }

        Container {
            path: path.get(),
            reload: reload.get(),
            max_age: max_age.get(),
            stale_while_revalidate: stale.get(),
            member: member.get(),
            singleton: singleton.get(),
            envelope: envelope.get(),
            singleton_mentioned,
            name: name.get(),
            krate: krate.get(),
            path_mentioned,
        }
    }

    /// The path to the backrest crate in generated code: `crate = "..."` or
    /// `::backrest`.
    pub(crate) fn krate(&self) -> Path {
        self.krate.clone().unwrap_or_else(|| {
            let mut path = Path::from(Ident::new("backrest", Span::call_site()));
            path.leading_colon = Some(Default::default());
            path
        })
    }
}

impl Field {
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut id = Attr::new(cx, ID);
        let mut id_mentioned = false;
        let mut etag = Attr::new(cx, ETAG);

        for attr in model_attrs(attrs) {
            let listed = parse_keys(cx, attr, "id", |meta| {
                if meta.path.is_ident(ID) {
                    id_mentioned = true;
                    if flag(cx, &meta)? {
                        id.set(&meta.path, meta.path.clone());
                    }
                } else if meta.path.is_ident(ETAG) {
                    if flag(cx, &meta)? {
                        etag.set(&meta.path, meta.path.clone());
                    }
                } else if let Some(key) = STRUCT_KEYS.iter().find(|key| meta.path.is_ident(*key)) {
                    cx.error_spanned_by(
                        &meta.path,
                        format!("`{key}` belongs on the struct, not on a field"),
                    );
                    skip_value(&meta)?;
                } else {
                    let near = unknown_key(cx, &meta, "a field", FIELD_KEYS)?;
                    id_mentioned |= near == Some(ID);
                }
                Ok(())
            });
            id_mentioned |= !listed;
        }

        Field {
            id: id.get(),
            id_mentioned,
            etag: etag.get(),
            serde_skip: serde_skips(attrs),
        }
    }
}

/// Whether the field's `#[serde(...)]` attributes keep it out of bodies both
/// ways: `skip`, or both `skip_serializing` and `skip_deserializing`. Only
/// bare words at the top level count (`skip_serializing_if = ".."` does
/// not); serde reports its own mistakes.
fn serde_skips(attrs: &[Attribute]) -> bool {
    let (mut serializing, mut deserializing) = (false, false);
    let lists = attrs
        .iter()
        .filter(|attr| attr.path().is_ident(SERDE))
        .filter_map(|attr| match &attr.meta {
            Meta::List(list) => Some(list.tokens.clone()),
            _ => None,
        });
    for tokens in lists {
        for word in bare_words(tokens) {
            match word.as_str() {
                SERDE_SKIP => (serializing, deserializing) = (true, true),
                SERDE_SKIP_SERIALIZING => serializing = true,
                SERDE_SKIP_DESERIALIZING => deserializing = true,
                _ => {}
            }
        }
    }
    serializing && deserializing
}

/// The items of a comma-separated list that are one identifier each.
fn bare_words(tokens: TokenStream) -> Vec<String> {
    let mut words = Vec::new();
    let mut item: Vec<TokenTree> = Vec::new();
    let mut end = |item: &mut Vec<TokenTree>| {
        if let [TokenTree::Ident(word)] = item.as_slice() {
            words.push(word.to_string());
        }
        item.clear();
    };
    for token in tokens {
        match &token {
            TokenTree::Punct(punct) if punct.as_char() == ',' => end(&mut item),
            _ => item.push(token),
        }
    }
    end(&mut item);
    words
}

/// A key's value, which may be given once.
struct Attr<'c, T> {
    cx: &'c Ctxt,
    name: &'static str,
    value: Option<T>,
}

impl<'c, T> Attr<'c, T> {
    fn new(cx: &'c Ctxt, name: &'static str) -> Self {
        Attr {
            cx,
            name,
            value: None,
        }
    }

    /// Keeps the first value; a second is an error spanned on its key.
    fn set(&mut self, key: &Path, value: T) {
        if self.value.is_some() {
            let name = self.name;
            self.cx.error_spanned_by(
                key,
                format!("duplicate `{name}` in `#[model(...)]`: remove this one"),
            );
        } else {
            self.value = Some(value);
        }
    }

    fn get(self) -> Option<T> {
        self.value
    }
}

fn model_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident(MODEL))
}

/// Runs `logic` on each key of `attr`, recording a syntax error rather than
/// returning it. `false` if `attr` is not a list of keys at all, such as a
/// bare `#[model]`.
fn parse_keys(
    cx: &Ctxt,
    attr: &Attribute,
    example: &str,
    logic: impl FnMut(ParseNestedMeta<'_>) -> syn::Result<()>,
) -> bool {
    if !matches!(attr.meta, Meta::List(_)) {
        cx.error_spanned_by(
            &attr.meta,
            format!(
                "write the keys of `#[model(...)]` in parentheses, as in `#[model({example})]`"
            ),
        );
        return false;
    }
    if let Err(error) = attr.parse_nested_meta(logic) {
        cx.syn_error(error);
    }
    true
}

/// `key = "string"`: the string, or `None` after recording why there is none.
fn string_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    example: &str,
) -> syn::Result<Option<LitStr>> {
    let key = display_path(&meta.path);
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(&meta.path, format!("expected `{key} = {example}`"));
        skip_value(meta)?;
        return Ok(None);
    }
    meta.input.parse::<Token![=]>()?;
    if meta.input.peek(LitStr) {
        return Ok(Some(meta.input.parse()?));
    }
    let value = rest_of_value(meta)?;
    let message = format!("expected a string literal, as in `{key} = {example}`");
    if value.is_empty() {
        cx.error_spanned_by(&meta.path, message);
    } else {
        cx.error_spanned_by(value, message);
    }
    Ok(None)
}

/// `key = "30s"`: the duration in milliseconds, or `None` after recording
/// why there is none (spanned on the literal, with a suggestion).
fn duration_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    example: &str,
) -> syn::Result<Option<u64>> {
    let Some(value) = string_value(cx, meta, example)? else {
        return Ok(None);
    };
    match duration::parse(&value.value()) {
        Ok(millis) => Ok(Some(millis)),
        Err(message) => {
            let key = display_path(&meta.path);
            cx.error_spanned_by(&value, format!("`{key}`: {message}"));
            Ok(None)
        }
    }
}

/// A key that takes no value, such as `reload`: whether it was written so.
fn flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        return Ok(true);
    }
    let key = display_path(&meta.path);
    cx.error_spanned_by(
        &meta.path,
        format!("`{key}` takes no value: write `#[model({key})]`"),
    );
    skip_value(meta)?;
    Ok(false)
}

/// Records an unknown key and skips its value; the known key it is nearest,
/// if any.
fn unknown_key(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    place: &str,
    keys: &[&'static str],
) -> syn::Result<Option<&'static str>> {
    let key = display_path(&meta.path);
    let expected = match keys {
        [only] => format!("the only key there is `{only}`"),
        _ => format!(
            "expected {}",
            message::list(keys.iter().map(|key| format!("`{key}`")), "or")
        ),
    };
    let near = message::nearest(&key, keys.iter().copied());
    let did_you_mean = message::did_you_mean(near);
    cx.error_spanned_by(
        &meta.path,
        format!("unknown key `{key}` in `#[model(...)]` on {place}: {expected}{did_you_mean}"),
    );
    skip_value(meta)?;
    Ok(near)
}

/// Skips whatever follows a key up to the next `,`, so that the keys after
/// it are still read.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    rest_of_value(meta).map(drop)
}

fn rest_of_value(meta: &ParseNestedMeta<'_>) -> syn::Result<TokenStream> {
    let mut tokens = TokenStream::new();
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        tokens.extend([meta.input.parse::<TokenTree>()?]);
    }
    Ok(tokens)
}

/// A key as written, `path` or `a::b`.
fn display_path(path: &Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let colon = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{colon}{}", segments.join("::"))
}
