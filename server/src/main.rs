//! The `ironworx` binary: everything happens in [`ironworx_server::cli`].

fn main() -> std::process::ExitCode {
    ironworx_server::cli::run()
}
