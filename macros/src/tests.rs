//! The derive end to end, without a compiler: which errors an input gets,
//! and what the expansion contains.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::Input;
use crate::check;
use crate::ctxt::Ctxt;
use crate::expand;

fn parse(tokens: TokenStream) -> DeriveInput {
    syn::parse2(tokens).expect("test input parses")
}

/// The messages of every error the derive reports, in order.
fn errors_of(tokens: TokenStream) -> Vec<String> {
    let input = parse(tokens);
    let cx = Ctxt::new();
    if let Some(ast) = Input::from_syn(&cx, &input) {
        check::check(&cx, &ast);
    }
    cx.check().err().map_or_else(Vec::new, |errors| {
        errors.into_iter().map(|e| e.to_string()).collect()
    })
}

fn expansion(tokens: TokenStream) -> String {
    expand::derive(&parse(tokens)).to_string()
}

fn repo(attrs: &TokenStream, id_ty: &TokenStream) -> TokenStream {
    quote! {
        #attrs
        struct Repo {
            #[model(id)]
            id: #id_ty,
            org_id: u64,
            name: String,
        }
    }
}

#[test]
fn a_correct_model_has_no_errors() {
    let path = quote!(#[model(path = "/orgs/{org_id}/repos")]);
    assert_eq!(
        errors_of(repo(&path, &quote!(Option<u64>))),
        Vec::<String>::new()
    );
    for id_ty in [
        quote!(std::option::Option<u64>),
        quote!(::core::option::Option<u64>),
        quote!(option::Option<String>),
    ] {
        assert_eq!(errors_of(repo(&path, &id_ty)), Vec::<String>::new());
    }
    let combined = quote!(#[model(path = "/orgs/{org_id}/repos", reload, crate = "::b")]);
    assert_eq!(
        errors_of(repo(&combined, &quote!(Option<u64>))),
        Vec::<String>::new()
    );
    let split = quote!(#[model(path = "/orgs/{org_id}/repos")] #[model(reload)]);
    assert_eq!(
        errors_of(repo(&split, &quote!(Option<u64>))),
        Vec::<String>::new()
    );
}

#[test]
fn the_expansion_is_glue_through_private() {
    let out = expansion(repo(
        &quote!(#[model(path = "/orgs/{org_id}/repos")]),
        &quote!(Option<u64>),
    ));
    assert!(out.starts_with("const _ : () ="), "{out}");
    assert!(
        out.contains("impl :: backrest :: __private :: Model for Repo"),
        "{out}"
    );
    assert!(out.contains("type Id = u64 ;"), "{out}");
    assert!(out.contains("type Params = (u64 ,) ;"), "{out}");
    assert!(out.contains("__path . push_str (\"/orgs/\")"), "{out}");
    assert!(
        out.contains(":: backrest :: __private :: push_param (__path , & __params . 0)"),
        "{out}"
    );
    assert!(
        out.contains(
            "fn fetch (client : & :: backrest :: __private :: Client , org_id : u64 , id : u64)"
        ),
        "{out}"
    );
    assert!(!out.contains("RELOAD"), "{out}");
    assert!(!out.contains("compile_error"), "{out}");
}

#[test]
fn reload_and_crate_change_the_expansion() {
    let out = expansion(repo(
        &quote!(#[model(path = "/repos", reload, crate = "my::backrest")]),
        &quote!(Option<u64>),
    ));
    assert!(
        out.contains("const RELOAD : my :: backrest :: __private :: bool = true ;"),
        "{out}"
    );
    assert!(out.contains("type Params = () ;"), "{out}");
    assert!(!out.contains("& :: backrest"), "{out}");
}

#[test]
fn client_gives_way_to_a_field_of_that_name() {
    let out = expansion(quote! {
        #[model(path = "/clients/{client}/notes")]
        struct Note {
            #[model(id)]
            options: Option<u64>,
            client: String,
        }
    });
    assert!(out.contains("fn fetch (__client : & :: backrest :: __private :: Client , client : String , options : u64)"), "{out}");
    assert!(
        out.contains("__options : :: backrest :: __private :: Fetch"),
        "{out}"
    );
}

#[test]
fn missing_path_and_id_are_reported_together() {
    let errors = errors_of(quote! {
        struct Repo {
            id: Option<u64>,
        }
    });
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains(
            "add `#[model(id)]` to the field holding the id, of type `Option<K>`; is it `id`?"
        ),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("missing `#[model(path = \"...\")]`"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("`#[model(path = \"/repos\")]`"),
        "{errors:?}"
    );
}

#[test]
fn a_second_id_is_an_error_but_the_model_still_expands() {
    let input = quote! {
        #[model(path = "/repos")]
        struct Repo {
            #[model(id)]
            id: Option<u64>,
            #[model(id)]
            uuid: Option<String>,
        }
    };
    let errors = errors_of(input.clone());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("`#[model(id)]` is already on `id`, and a model has one id: remove `#[model(id)]` from `uuid`"), "{errors:?}");
    let out = expansion(input);
    assert!(out.contains("compile_error"), "{out}");
    assert!(out.contains("type Id = u64"), "{out}");
}

#[test]
fn the_id_must_be_an_option() {
    let errors = errors_of(repo(&quote!(#[model(path = "/repos")]), &quote!(Vec<u8>)));
    assert_eq!(
        errors,
        [
            "the `#[model(id)]` field must be an `Option<K>`, `None` until the server assigns the id: change `Vec<u8>` to `Option<Vec<u8>>`"
        ]
    );
}

#[test]
fn placeholder_typos_suggest_and_list_fields() {
    let errors = errors_of(repo(
        &quote!(#[model(path = "/orgs/{org}/repos")]),
        &quote!(Option<u64>),
    ));
    assert_eq!(
        errors,
        [
            "`{org}` in the path is not a field of `Repo`; did you mean `org_id`? Its fields are `org_id` and `name`"
        ]
    );
    let errors = errors_of(repo(
        &quote!(#[model(path = "/users/{owner}/repos")]),
        &quote!(Option<u64>),
    ));
    assert_eq!(
        errors,
        ["`{owner}` in the path is not a field of `Repo`; its fields are `org_id` and `name`"]
    );
}

#[test]
fn placeholders_cannot_repeat_or_name_the_id() {
    let errors = errors_of(repo(
        &quote!(#[model(path = "/orgs/{org_id}/{org_id}/repos/{id}")]),
        &quote!(Option<u64>),
    ));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("`{org_id}` appears more than once"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("`{id}` in the path is the `#[model(id)]` field, which backrest appends to the collection's path for a member: write `/orgs/{org_id}/{org_id}/repos`"),
        "{errors:?}"
    );
}

#[test]
fn bad_keys_are_all_reported_and_the_rest_still_read() {
    let errors = errors_of(quote! {
        #[model(pth = "/x", path = "/repos", reload = true, path = "/again", id)]
        struct Repo {
            #[model(id, idd, path = "/y")]
            id: Option<u64>,
            #[model(id(x))]
            other: u8,
        }
    });
    let expected = [
        "unknown key `pth` in `#[model(...)]` on the struct: expected `path`, `member`, `singleton`, `envelope`, `reload`, `max_age`, `stale_while_revalidate`, `name` or `crate`; did you mean `path`?",
        "`reload` takes no value: write `#[model(reload)]`",
        "duplicate `path` in `#[model(...)]`: remove this one",
        "`#[model(id)]` belongs on the field holding the id, not on the struct",
        "unknown key `idd` in `#[model(...)]` on a field: expected `id` or `etag`; did you mean `id`?",
        "`path` belongs on the struct, not on a field",
        "`id` takes no value: write `#[model(id)]`",
    ];
    assert_eq!(errors, expected);
}

#[test]
fn values_of_the_wrong_kind_are_errors() {
    let errors = errors_of(quote! {
        #[model(path = 5, crate = "not a path")]
        #[model(path)]
        #[model]
        struct Repo {
            #[model(id)]
            id: Option<u64>,
        }
    });
    let expected = [
        "expected a string literal, as in `path = \"/repos\"`",
        "`crate` must be the path to the backrest crate, such as `crate = \"::backrest\"`",
        "expected `path = \"/repos\"`",
        "write the keys of `#[model(...)]` in parentheses, as in `#[model(path = \"/repos\")]`",
    ];
    assert_eq!(errors, expected);
}

#[test]
fn a_rejected_path_or_id_is_not_also_reported_missing() {
    let found = errors_of(quote! {
        #[model(pth = "/repos")]
        struct Repo {
            #[model(idd)]
            id: Option<u64>,
        }
    });
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("did you mean `path`?"), "{found:?}");
    assert!(found[1].contains("did you mean `id`?"), "{found:?}");

    let found = errors_of(quote! {
        #[model = "/repos"]
        struct Repo {
            #[model]
            id: Option<u64>,
        }
    });
    let expected = [
        "write the keys of `#[model(...)]` in parentheses, as in `#[model(path = \"/repos\")]`",
        "write the keys of `#[model(...)]` in parentheses, as in `#[model(id)]`",
    ];
    assert_eq!(found, expected);

    let found = errors_of(quote! {
        struct Repo {
            #[model(id = true)]
            id: Option<u64>,
            #[model(cache)]
            name: String,
        }
    });
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[2].starts_with("missing `#[model(path"), "{found:?}");
}

#[test]
fn unsupported_shapes_get_one_error_each() {
    let cases = [
        (
            quote!(
                enum Repo {
                    A,
                }
            ),
            "for an enum",
        ),
        (quote!(union Repo { a: u8 }), "for a union"),
        (
            quote!(
                struct Repo(u64);
            ),
            "for a tuple struct",
        ),
        (
            quote!(
                struct Repo;
            ),
            "for a unit struct",
        ),
        (
            quote!(
                #[model(path = "/r")]
                struct Repo<T> {
                    #[model(id)]
                    id: Option<T>,
                }
            ),
            "generic struct yet",
        ),
        (
            quote!(
                #[model(path = "/r")]
                struct Repo<'a> {
                    #[model(id)]
                    id: Option<&'a str>,
                }
            ),
            "lifetime parameters",
        ),
        (
            quote!(
                #[model(path = "/r")]
                struct Repo
                where
                    u8: Copy,
                {
                    #[model(id)]
                    id: Option<u8>,
                }
            ),
            "`where` clause",
        ),
    ];
    for (input, expected) in cases {
        let errors = errors_of(input);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains(expected), "{errors:?}");
    }
}

#[test]
fn a_generic_struct_reports_its_other_mistakes_too() {
    let errors = errors_of(quote!(
        #[model(pth = "/r")]
        struct Repo<T> {
            id: Option<T>,
        }
    ));
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn a_failed_derive_emits_stand_ins_with_the_path_s_arity() {
    let out = expansion(repo(
        &quote!(#[model(path = "/orgs/{org}/repos")]),
        &quote!(Option<u64>),
    ));
    assert!(out.contains("compile_error"), "{out}");
    assert!(out.contains("fn fetch < __P0 , __Id > (_ : & :: backrest :: __private :: Client , _ : __P0 , _ : __Id ,)"), "{out}");
    assert!(
        !out.contains("impl :: backrest :: __private :: Model for"),
        "{out}"
    );
    let out = expansion(repo(
        &quote!(#[model(path = "/orgs/{a}/{b/repos")]),
        &quote!(Option<u64>),
    ));
    assert!(out.contains("fn fetch < __P0 , __P1 , __Id >"), "{out}");
    let out = expansion(quote!(
        enum Repo {
            A,
        }
    ));
    assert!(!out.contains("impl"), "{out}");
}

/// A `User` with an etag field of type `ty` and these attributes on it.
fn with_etag(attrs: &TokenStream, ty: &TokenStream) -> TokenStream {
    quote! {
        #[model(path = "/users")]
        struct User {
            #[model(id)]
            id: Option<u64>,
            #attrs
            etag: #ty,
        }
    }
}

#[test]
fn r8_an_etag_field_is_an_option_string_kept_out_of_bodies() {
    let skip = quote!(#[model(etag)] #[serde(skip)]);
    for ty in [
        quote!(Option<String>),
        quote!(std::option::Option<std::string::String>),
        quote!(::core::option::Option<alloc::string::String>),
    ] {
        assert_eq!(errors_of(with_etag(&skip, &ty)), Vec::<String>::new());
    }
    let option_string = quote!(Option<String>);
    for attrs in [
        quote!(#[serde(skip)] #[model(etag)]),
        quote!(#[model(etag)] #[serde(default, skip, rename = "x")]),
        quote!(#[model(etag)] #[serde(skip_serializing)] #[serde(skip_deserializing)]),
        quote!(#[model(etag)] #[serde(skip_deserializing, skip_serializing)]),
    ] {
        assert_eq!(
            errors_of(with_etag(&attrs, &option_string)),
            Vec::<String>::new(),
            "{attrs}"
        );
    }
}

#[test]
fn r8_an_etag_field_without_serde_skip_is_an_error_but_the_model_still_expands() {
    let option_string = quote!(Option<String>);
    for attrs in [
        quote!(#[model(etag)]),
        quote!(#[model(etag)] #[serde(skip_serializing)]),
        quote!(#[model(etag)] #[serde(skip_serializing_if = "Option::is_none")]),
        quote!(#[model(etag)] #[serde(rename = "skip")]),
        quote!(#[model(etag)] #[serde(with = "skip")]),
    ] {
        let input = with_etag(&attrs, &option_string);
        let errors = errors_of(input.clone());
        assert_eq!(
            errors,
            [
                "add `#[serde(skip)]` to `etag`: the `#[model(etag)]` field travels in headers \
              (`ETag` in, `If-Match` out), so it must never be serialized into a request body \
              nor read from a response body"
            ],
            "{attrs}"
        );
        let out = expansion(input);
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("fn set_etag"), "{out}");
    }
}

#[test]
fn r8_the_etag_must_be_an_option_string() {
    let skip = quote!(#[model(etag)] #[serde(skip)]);
    for (ty, shown) in [
        (quote!(String), "String"),
        (quote!(Option<u64>), "Option<u64>"),
        (quote!(Option<&'static str>), "Option<&'static str>"),
        (quote!(Option<Vec<String>>), "Option<Vec<String>>"),
    ] {
        let errors = errors_of(with_etag(&skip, &ty));
        assert_eq!(
            errors,
            [format!(
                "the `#[model(etag)]` field must be an `Option<String>`: it holds the `ETag` \
                 header as the server sent it, `None` until one arrives; change `{shown}` to \
                 `Option<String>`"
            )]
        );
        let out = expansion(with_etag(&skip, &ty));
        assert!(
            !out.contains("fn set_etag"),
            "no etag methods to cascade from: {out}"
        );
    }
}

#[test]
fn r8_one_etag_of_its_own_and_only_on_a_field() {
    let errors = errors_of(quote! {
        #[model(path = "/users", etag)]
        struct User {
            #[model(id, etag)]
            #[serde(skip)]
            id: Option<String>,
            #[model(etag)]
            #[serde(skip)]
            tag: Option<String>,
            #[model(etag, etag)]
            #[serde(skip)]
            other: Option<String>,
        }
    });
    let expected = [
        "`#[model(etag)]` belongs on the field holding the `ETag`, an `Option<String>`, not on the struct",
        "duplicate `etag` in `#[model(...)]`: remove this one",
        "`#[model(etag)]` is already on `id`, and a model has one etag: remove `#[model(etag)]` from `tag`",
        "`#[model(etag)]` is already on `id`, and a model has one etag: remove `#[model(etag)]` from `other`",
        "`id` is the `#[model(id)]` field, and the etag needs a field of its own: add a field `etag: Option<String>` with `#[model(etag)]`",
    ];
    assert_eq!(errors, expected);
}

#[test]
fn r8_the_etag_methods_are_generated_only_for_an_etag_field() {
    let out = expansion(with_etag(
        &quote!(#[model(etag)] #[serde(skip)]),
        &quote!(Option<String>),
    ));
    assert!(out.contains("fn etag (& self) -> :: backrest :: __private :: Option < & :: backrest :: __private :: str > { :: backrest :: __private :: Option :: as_deref (& self . etag) }"), "{out}");
    assert!(out.contains("fn set_etag (& mut self , __etag : :: backrest :: __private :: Option < :: backrest :: __private :: String >) { self . etag = __etag ; }"), "{out}");
    let plain = expansion(repo(
        &quote!(#[model(path = "/repos")]),
        &quote!(Option<u64>),
    ));
    assert!(!plain.contains("etag"), "{plain}");
}

/// M7: per model, one trait impl (three small required methods) and one
/// inherent impl whose every method is a single call into the trait, where
/// the logic lives.
#[test]
fn m7_the_expansion_is_one_trait_impl_and_one_line_wrappers() {
    let out = expansion(repo(
        &quote!(#[model(path = "/orgs/{org_id}/repos")]),
        &quote!(Option<u64>),
    ));
    // Every other `impl` is an `impl Trait` in a signature.
    let impl_trait = out.matches("-> impl ").count() + out.matches(": impl ").count();
    assert_eq!(out.matches("impl ").count() - impl_trait, 2, "{out}");
    assert_eq!(
        out.matches("impl :: backrest :: __private :: Model for Repo where")
            .count(),
        1
    );
    assert_eq!(out.matches("impl Repo {").count(), 1, "{out}");
    for name in [
        "fetch",
        "fetch_with",
        "fetch_all",
        "fetch_all_with",
        "save",
        "save_all",
        "destroy",
        "create",
        "update",
        "patch",
        "pages",
        "stream_all",
    ] {
        let call = format!("{{ < Self as :: backrest :: __private :: Model > :: {name} (");
        assert_eq!(out.matches(&call).count(), 1, "{name} is one call: {out}");
    }
    let code = without_string_literals(&out);
    for logic in [
        " async ", " await ", " loop ", " match ", " while ", " in ", " if ",
    ] {
        assert!(
            !code.contains(logic),
            "no `{logic}` in generated code: {code}"
        );
    }
    // Docs included, a model's glue stays a few kilobytes of tokens.
    assert!(out.len() < 12_000, "{} bytes of expansion", out.len());
}

/// The expansion with the contents of its string literals (docs, path
/// pieces) removed, so that only code is searched.
fn without_string_literals(tokens: &str) -> String {
    let mut code = String::with_capacity(tokens.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in tokens.chars() {
        if in_string {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => escaped = false,
            }
        } else {
            in_string = c == '"';
            code.push(c);
        }
    }
    code
}

#[test]
fn freshness_becomes_two_consts_in_milliseconds() {
    let out = expansion(repo(
        &quote!(#[model(path = "/repos", max_age = "30s", stale_while_revalidate = "5m")]),
        &quote!(Option<u64>),
    ));
    assert!(out.contains("const MAX_AGE"), "{out}");
    assert!(out.contains("from_millis (30000u64)"), "{out}");
    assert!(out.contains("const STALE_WHILE_REVALIDATE"), "{out}");
    assert!(out.contains("from_millis (300000u64)"), "{out}");
    let plain = expansion(repo(
        &quote!(#[model(path = "/repos")]),
        &quote!(Option<u64>),
    ));
    assert!(!plain.contains("MAX_AGE"), "{plain}");
}

#[test]
fn freshness_mistakes_are_reported_with_a_suggestion() {
    let errors = errors_of(repo(
        &quote!(#[model(path = "/repos", max_age = "30sec", stale_while_revalidate = "5")]),
        &quote!(Option<u64>),
    ));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("`max_age`: invalid duration \"30sec\": did you mean \"30s\"?"));
    assert!(errors[1].contains("did you mean \"5s\"?"), "{errors:?}");

    let errors = errors_of(repo(
        &quote!(#[model(path = "/repos", stale_while_revalidate = "5m")]),
        &quote!(Option<u64>),
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("add `max_age = \"...\"`"), "{errors:?}");

    let errors = errors_of(repo(
        &quote!(#[model(path = "/repos", reload, max_age = "1s")]),
        &quote!(Option<u64>),
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("`max_age` has no effect with `reload`"),
        "{errors:?}"
    );

    let errors = errors_of(repo(
        &quote!(#[model(path = "/repos", max_age = 30)]),
        &quote!(Option<u64>),
    ));
    assert_eq!(
        errors,
        ["expected a string literal, as in `max_age = \"30s\"`"],
        "{errors:?}"
    );
}

#[test]
fn e7_each_supertrait_is_checked_once_and_the_rest_holds_under_it() {
    let out = expansion(repo(
        &quote!(#[model(path = "/orgs/{org_id}/repos")]),
        &quote!(Option<u64>),
    ));
    assert_eq!(out.matches("fn __requires").count(), 5, "{out}");
    assert!(
        out.contains("for < '__a > Repo : :: backrest :: __private :: Serialize"),
        "{out}"
    );
    // Every wrapper holds under the bound, so none repeats the error.
    let wrappers = out
        .matches("for < '__a > Self : :: backrest :: __private :: Model")
        .count();
    assert_eq!(wrappers, crate::methods::METHODS.len(), "{out}");
}

#[test]
fn e5_a_singleton_has_no_id_and_no_collection_methods() {
    let out = expansion(quote! {
        #[model(singleton, path = "/users/{user_id}/profile")]
        struct Profile { user_id: u64 }
    });
    assert!(
        out.contains("type Id = :: backrest :: __private :: NoId"),
        "{out}"
    );
    for absent in ["fn fetch_all", "fn pages", "fn stream_all", "fn create"] {
        assert!(!out.contains(absent), "{absent}: {out}");
    }
    assert!(
        out.contains("fn fetch (client : & :: backrest :: __private :: Client , user_id : u64)"),
        "{out}"
    );
}

#[test]
fn e4_e6_member_and_envelope_are_read_and_checked_together() {
    let errors = errors_of(quote! {
        #[model(path = "/p/{post_id}/c", member = "/c", envelope = "")]
        struct Comment { #[model(id)] id: Option<u64>, post_id: u64 }
    });
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("`envelope`"), "{errors:?}");
    assert!(
        errors[1].contains("`member` must hold the id as `{id}`"),
        "{errors:?}"
    );
    let out = expansion(quote! {
        #[model(path = "/p/{post_id}/c", member = "/c/{id}", envelope = "data")]
        struct Comment { #[model(id)] id: Option<u64>, post_id: u64 }
    });
    assert!(out.contains("const ENVELOPE"), "{out}");
    assert!(out.contains("__backrest_member_path"), "{out}");
}
