//! The `handler` binary: the Functions custom handler (the default) and the operator CLI.

fn main() -> std::process::ExitCode {
    dfc_sentinel_sync::cli::main()
}
