//! Throwaway profiling driver (not to commit).
#![allow(missing_docs, clippy::print_stdout, unreachable_pub)]
#[path = "../benches/common/mod.rs"]
mod common;
use backrest::{Client, Fetch};
use common::{JSON, Loopback, User, client_runtime};
use reqwest::header::ACCEPT;
use std::hint::black_box;
use std::time::Instant;

async fn plain_get(
    http: &reqwest::Client,
    base: &str,
    id: u64,
) -> Result<User, Box<dyn std::error::Error>> {
    let response = http
        .get(format!("{base}/users/{id}"))
        .header(ACCEPT, JSON)
        .send()
        .await?
        .error_for_status()?;
    let body = response.bytes().await?;
    Ok(serde_json::from_slice(&body)?)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let side = args[1].clone();
    let n: u64 = args[2].parse().unwrap();
    let runtime = client_runtime();
    let lb = Loopback::start_on(&runtime, 0);
    let base = lb.url();
    let client = Client::new(&base).unwrap();
    let http = reqwest::Client::new();
    println!("fetch future: {} bytes; fetch_with: {}; save: {}", size_of_val(&User::fetch(&client, 1)), size_of_val(&User::fetch_with(&client, 1, Fetch::reload())), size_of_val(&common::user(1).save(&client)));
    runtime.block_on(async {
        for _ in 0..100 {
            black_box(User::fetch_with(&client, 7, Fetch::reload()).await.unwrap());
            black_box(plain_get(&http, &base, 7).await.unwrap());
        }
        let start = Instant::now();
        for i in 0..n {
            match side.as_str() {
                "reload" => {
                    black_box(User::fetch_with(&client, 7, Fetch::reload()).await.unwrap());
                }
                "reqwest" => {
                    black_box(plain_get(&http, &base, 7).await.unwrap());
                }
                "hit" => {
                    black_box(User::fetch(&client, black_box(7)).await.unwrap());
                }
                "coalesce" => {
                    black_box(
                        futures_util::future::join_all(
                            (0..1000).map(|_| User::fetch(&client, 1_000_000 + i)),
                        )
                        .await,
                    );
                }
                "shared" => {
                    use futures_util::FutureExt;
                    let shared = plain_get(&http, &base, i)
                        .map(|r| r.map(std::sync::Arc::new).map_err(|e| e.to_string()))
                        .shared();
                    black_box(
                        futures_util::future::join_all((0..1000).map(|_| shared.clone())).await,
                    );
                }
                "cold" => {
                    black_box(User::fetch(&client, 1000 + i).await.unwrap());
                }
                _ => panic!(),
            }
        }
        println!("{side}: {:?} per iteration", start.elapsed() / n as u32);
    });
}
