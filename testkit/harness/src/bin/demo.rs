//! `cargo run --release -p harness --bin demo [-- --verbose]`: the real handler against a
//! simulated workspace, no Azure needed (see `harness::demo`).
//!
//! The demo starts this very binary as the custom handler, the way the Functions host starts
//! `handler`: with [`harness::demo::SERVE_AS_HANDLER`] set in its environment, it is the product's
//! own command line (`dfc_sentinel_sync::cli`), serving the Functions protocol.

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::var_os(harness::demo::SERVE_AS_HANDLER).is_some() {
        return dfc_sentinel_sync::cli::main();
    }
    let verbose = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => false,
        [flag] if flag == "--verbose" => true,
        [flag] if flag == "--help" || flag == "-h" => {
            println!(
                "demo: runs the real SyncTimer and webhook paths against a simulated Sentinel workspace\n\nUsage: demo [--verbose]\n\n  --verbose  also print the handler's own log lines"
            );
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("error: unexpected arguments {other:?}\n\nUsage: demo [--verbose]");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(harness::demo::run(verbose))
}
