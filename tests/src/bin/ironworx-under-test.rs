//! The server under test: the same code as the `ironworx` binary, built inside this crate so
//! that its tests can start it (`CARGO_BIN_EXE_ironworx-under-test`).

fn main() -> std::process::ExitCode {
    ironworx_server::cli::run()
}
