//! The benchmarks' HTTP/1.1 server as a process of its own; see
//! `backrest_testkit::bench_server`.
//!
//! `cargo run --release -p backrest-testkit --bin bench_server -- [--delay-ms N] [--port P]`
//! prints `http://127.0.0.1:PORT` and serves until its stdin closes
//! (Ctrl-D) or it is killed. A benchmark is pointed at it with
//! `BACKREST_BENCH_SERVER=http://127.0.0.1:PORT`.

fn main() -> std::io::Result<()> {
    backrest_testkit::bench_server::main_with_args(std::env::args().skip(1))
}
