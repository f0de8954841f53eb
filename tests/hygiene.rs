//! The code `#[derive(Model)]` generates names everything by absolute path
//! (ARCHITECTURE.md M6): it compiles without a warning under
//! `#![deny(warnings, unused_qualifications)]`, next to user types named
//! like the prelude's, and its methods have the documented signatures and
//! return `Send` futures. No request is made: futures are built, never run.

#![deny(warnings, unused_qualifications)]
#![warn(missing_docs)]

use std::sync::Arc;

use backrest::{Client, Error, Fetch, Model, SaveAllError};

/// Models derived where the prelude's names mean the user's own types.
pub mod models {
    use backrest::Model;
    use serde::{Deserialize, Serialize};

    /// Shadows `std::result::Result`.
    #[derive(Debug)]
    pub struct Result;
    /// Shadows `std::option::Option`.
    #[derive(Debug)]
    pub struct Option;
    /// Shadows `Result::Ok`.
    #[derive(Debug)]
    pub struct Ok;
    /// Shadows `Result::Err`.
    #[derive(Debug)]
    pub struct Err;
    /// Shadows `std::boxed::Box`.
    #[derive(Debug)]
    pub struct Box;
    /// Shadows `std::vec::Vec`.
    #[derive(Debug)]
    pub struct Vec;
    /// Shadows `std::string::String`.
    #[derive(Debug)]
    pub struct String;
    /// Shadows `std::sync::Arc`.
    #[derive(Debug)]
    pub struct Arc;
    /// Shadows `std::marker::Send`.
    #[derive(Debug)]
    pub struct Send;
    /// Shadows `std::future::Future`.
    #[derive(Debug)]
    pub struct Future;
    /// Shadows `std::clone::Clone` (the type, not the derive).
    #[derive(Debug)]
    pub struct Clone;
    /// Shadows `std::iter::IntoIterator`.
    #[derive(Debug)]
    pub struct IntoIterator;

    /// A top-level resource: `/users`.
    #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    #[model(path = "/users")]
    pub struct User {
        /// The id, `None` until created.
        #[model(id)]
        pub id: std::option::Option<u64>,
        /// A name.
        pub name: std::string::String,
    }

    /// A nested resource: `/orgs/{org_id}/repos`.
    #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    #[model(path = "/orgs/{org_id}/repos")]
    pub struct Repo {
        /// The id, `None` until created.
        #[model(id)]
        pub id: ::core::option::Option<u64>,
        /// The parent organization.
        pub org_id: u64,
        /// A name.
        pub name: std::string::String,
    }

    /// Two parameters, string-typed, a field named `client`, a string id
    /// not named `id`, every fetch a reload, and the crate named explicitly.
    #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    #[model(path = "/buckets/{client}/files/{kind}")]
    #[model(reload, crate = "::backrest")]
    pub struct File {
        /// The id, `None` until created.
        #[model(id)]
        pub key: std::option::Option<std::string::String>,
        /// The bucket; named `client` to push the client parameter aside.
        pub client: std::string::String,
        /// A second parameter.
        pub kind: u8,
    }

    /// A shallow member (E4) in an envelope (E6), with a parameter kept in
    /// the member path and a field named `original` (patch's parameter).
    #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    #[model(
        path = "/orgs/{org}/posts/{post_id}/comments",
        member = "/orgs/{org}/comments/{id}",
        envelope = "data"
    )]
    pub struct Comment {
        /// The id, `None` until created.
        #[model(id)]
        pub id: std::option::Option<u64>,
        /// The organization.
        pub org: std::string::String,
        /// The post.
        pub post_id: u64,
        /// Named like `patch`'s parameter.
        pub original: bool,
    }

    /// A singleton (E5).
    #[derive(Debug, Clone, Serialize, Deserialize, Model)]
    #[model(singleton, path = "/users/{user_id}/profile")]
    pub struct Profile {
        /// The user.
        pub user_id: u64,
    }

    /// The shadowing types, used so that none of them is dead code.
    pub fn shadows() -> impl std::fmt::Debug {
        (
            Result,
            Option,
            Ok,
            Err,
            Box,
            Vec,
            String,
            Arc,
            Send,
            Future,
            Clone,
            IntoIterator,
        )
    }
}

mod renamed {
    //! A model in a private module, derived through a renamed path to
    //! backrest; its methods share its `pub(crate)` visibility.

    use ::backrest as rest;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, Serialize, Deserialize, rest::Model)]
    #[model(path = "/notes", crate = "rest")]
    pub(crate) struct Note {
        #[model(id)]
        pub(crate) id: Option<i64>,
    }
}

use models::{Comment, File, Profile, Repo, User};
use renamed::Note;

fn assert_send<T: Send>(_: &T) {}

fn client() -> Client {
    Client::new("http://127.0.0.1:9/api").unwrap()
}

/// Every generated method, with the documented argument and output types;
/// awaiting them in one `async fn` proves its future is `Send` only if theirs
/// are.
async fn every_method(client: &Client, repo: Repo) -> Result<(), Error> {
    let one: Arc<Repo> = Repo::fetch(client, 42, 7).await?;
    let _: Arc<Repo> = Repo::fetch_with(client, 42, 7, Fetch::reload()).await?;
    let _: Arc<Vec<Repo>> = Repo::fetch_all(client, 42).await?;
    let _: Arc<Vec<Repo>> = Repo::fetch_all_with(client, 42, Fetch::new()).await?;
    let saved: Repo = repo.save(client).await?;
    let all: Result<Vec<Repo>, SaveAllError<Repo>> =
        Repo::save_all(client, vec![saved.clone(), (*one).clone()]).await;
    drop(all);
    let borrowed = [saved.clone()];
    let _: Result<Vec<Repo>, SaveAllError<Repo>> =
        Repo::save_all(client, borrowed.iter().cloned()).await;
    let destroyed: Result<(), Error> = saved.destroy(client).await;
    destroyed?;

    let _: Arc<User> = User::fetch(client, 1).await?;
    let _: Arc<Vec<User>> = User::fetch_all(client).await?;
    let _: Arc<File> = File::fetch(client, "bucket".into(), 3, "key".into()).await?;
    let _: Arc<Vec<File>> = File::fetch_all_with(client, "bucket".into(), 3, Fetch::new()).await?;
    let _: Arc<Note> = Note::fetch(client, -1).await?;

    let created: Repo = one.create(client).await?;
    let updated: Repo = created.update(client).await?;
    let _: Repo = updated.patch(client, &created).await?;
    let pages = Repo::pages(client, 42, Fetch::new());
    assert_send(&pages);
    let items = Repo::stream_all(client, 42, Fetch::new().query(&[("q", "a")]));
    assert_send(&items);
    let comment: Arc<Comment> = Comment::fetch(client, "org".into(), 7).await?;
    let _: Arc<Comment> = Comment::fetch_with(client, "org".into(), 7, Fetch::reload()).await?;
    let _: Arc<Vec<Comment>> = Comment::fetch_all(client, "org".into(), 1).await?;
    let _: Comment = comment.patch(client, &comment).await?;
    let profile: Arc<Profile> = Profile::fetch(client, 4).await?;
    let _: Profile = profile.save(client).await?;
    profile.destroy(client).await?;
    Ok(())
}

#[test]
fn generated_futures_are_send_and_typed_as_documented() {
    let client = client();
    let repo = Repo {
        id: None,
        org_id: 42,
        name: "backrest".into(),
    };
    assert_send(&every_method(&client, repo.clone()));
    assert_send(&Repo::fetch(&client, 42, 7));
    assert_send(&repo.save(&client));
    assert_send(&Repo::save_all(&client, vec![repo.clone()]));
    assert_send(&repo.destroy(&client));
    assert!(format!("{:?}", models::shadows()).contains("Result"));
}

#[test]
fn collection_and_member_paths_follow_the_template() {
    assert_eq!(User::collection_path(&()), "/users");
    assert_eq!(User::member_path(&(), &7), "/users/7");
    assert_eq!(Repo::collection_path(&(42,)), "/orgs/42/repos");
    assert_eq!(Repo::member_path(&(42,), &7), "/orgs/42/repos/7");
    assert_eq!(
        File::collection_path(&("a/b c".into(), 3)),
        "/buckets/a%2Fb%20c/files/3"
    );
    assert_eq!(
        File::member_path(&("b".into(), 3), &"x/y z?".into()),
        "/buckets/b/files/3/x%2Fy%20z%3F"
    );
    assert_eq!(Note::member_path(&(), &-1), "/notes/-1");
    assert_eq!(
        Comment::collection_path(&("o".into(), 1)),
        "/orgs/o/posts/1/comments"
    );
    assert_eq!(
        Comment::member_path(&("o".into(), 1), &7),
        "/orgs/o/comments/7"
    );
    assert_eq!(
        Profile::member_path(&(4,), &backrest::NoId),
        "/users/4/profile"
    );
    assert_eq!(Comment::ENVELOPE, Some("data"));
    assert_eq!(Profile::ENVELOPE, None);
}

#[test]
fn params_and_id_are_read_from_the_fields() {
    let repo = Repo {
        id: Some(7),
        org_id: 42,
        name: "backrest".into(),
    };
    assert_eq!(repo.params(), (42,));
    assert_eq!(repo.id(), Some(&7));
    assert!(!repo.is_new());

    let file = File {
        key: None,
        client: "bucket".into(),
        kind: 3,
    };
    assert_eq!(file.params(), ("bucket".to_owned(), 3));
    assert_eq!(file.id(), None);
    assert!(file.is_new());
}

#[test]
fn reload_is_set_by_the_attribute() {
    let reloads = [File::RELOAD, Repo::RELOAD, User::RELOAD];
    assert_eq!(reloads, [true, false, false]);
}
