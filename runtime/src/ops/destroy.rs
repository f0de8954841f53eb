//! `destroy`: DELETE the member (S7) and evict it (C9).

use std::any::TypeId;

use reqwest::Method;

use crate::cache::{Key, Kind};
use crate::http::Call;
use crate::{Client, Error, Model};

pub(crate) async fn destroy<M: Model>(client: &Client, value: &M) -> Result<(), Error> {
    let Some(id) = value.id() else {
        return Ok(());
    };
    let path = M::member_path(&value.params(), id);
    let call = Call::new(Method::DELETE, client.http().url(&path));
    client.http().send(&call).await?;
    client
        .cache()
        .destroyed(&Key::new(TypeId::of::<M>(), Kind::Member, path));
    Ok(())
}
