//! The name serde gives a field in JSON: its own name, or its
//! `#[serde(rename = "...")]`, or the struct's `#[serde(rename_all = "...")]`
//! applied to it. Read (never checked) for `Model::ID_FIELD`: serde reports
//! its own mistakes, and whatever is not understood here leaves the name as
//! written.

use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr, Meta, Token};

use crate::symbol::SERDE;

/// `rename` in `#[serde(...)]`, on a field or on the struct.
const RENAME: &str = "rename";
/// `rename_all` in `#[serde(...)]` on the struct.
const RENAME_ALL: &str = "rename_all";
/// The serializing half of `rename(serialize = "..", deserialize = "..")`.
const SERIALIZE: &str = "serialize";

/// The JSON name of the field `name` (unraw), given its attributes and the
/// struct's.
pub(crate) fn json_name(name: &str, field: &[Attribute], container: &[Attribute]) -> String {
    if let Some(renamed) = serde_string(field, RENAME) {
        return renamed;
    }
    match serde_string(container, RENAME_ALL) {
        Some(rule) => apply(&rule, name),
        None => name.to_owned(),
    }
}

/// serde's case rules, applied to a field name written in snake_case; an
/// unknown rule leaves the name as it is.
fn apply(rule: &str, name: &str) -> String {
    let pascal = || -> String {
        name.split('_')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect()
    };
    match rule {
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => name.to_ascii_uppercase(),
        "PascalCase" => pascal(),
        "camelCase" => {
            let pascal = pascal();
            let mut chars = pascal.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_lowercase().to_string() + chars.as_str()
            })
        }
        "kebab-case" => name.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => name.to_ascii_uppercase().replace('_', "-"),
        _ => name.to_owned(),
    }
}

/// The string of `key = ".."` (or of `key(serialize = "..")`) in the
/// `#[serde(...)]` attributes, if written so.
fn serde_string(attrs: &[Attribute], key: &str) -> Option<String> {
    let mut found = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(SERDE)) {
        if !matches!(attr.meta, Meta::List(_)) {
            continue;
        }
        // A list serde itself refuses: its error is the one the user sees.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(key) {
                if meta.input.peek(Token![=]) {
                    found = Some(meta.value()?.parse::<LitStr>()?.value());
                } else {
                    meta.parse_nested_meta(|inner| {
                        if inner.path.is_ident(SERIALIZE) {
                            found = Some(inner.value()?.parse::<LitStr>()?.value());
                        } else {
                            skip(&inner)?;
                        }
                        Ok(())
                    })?;
                }
            } else {
                skip(&meta)?;
            }
            Ok(())
        });
    }
    found
}

/// Skips whatever follows a key up to the next `,`.
fn skip(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        meta.input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::json_name;

    #[test]
    fn t1_the_id_field_is_named_as_serde_writes_it() {
        let none: Vec<syn::Attribute> = Vec::new();
        assert_eq!(json_name("user_id", &none, &none), "user_id");

        let field: syn::Attribute = parse_quote!(#[serde(default, rename = "ID")]);
        assert_eq!(json_name("user_id", &[field], &none), "ID");
        let field: syn::Attribute =
            parse_quote!(#[serde(rename(serialize = "uid", deserialize = "u"))]);
        assert_eq!(json_name("user_id", &[field], &none), "uid");

        for (rule, expected) in [
            ("camelCase", "userId"),
            ("PascalCase", "UserId"),
            ("SCREAMING_SNAKE_CASE", "USER_ID"),
            ("kebab-case", "user-id"),
            ("SCREAMING-KEBAB-CASE", "USER-ID"),
            ("snake_case", "user_id"),
            ("lowercase", "user_id"),
        ] {
            let container: syn::Attribute =
                parse_quote!(#[serde(deny_unknown_fields, rename_all = #rule)]);
            assert_eq!(
                json_name("user_id", &none, &[container]),
                expected,
                "{rule}"
            );
        }
        // A field's own rename wins over the struct's rule.
        let field: syn::Attribute = parse_quote!(#[serde(rename = "key")]);
        let container: syn::Attribute = parse_quote!(#[serde(rename_all = "camelCase")]);
        assert_eq!(json_name("user_id", &[field], &[container]), "key");
    }
}
