//! The `ironworx` binary: everything happens in [`ironworx_server::cli`].

/// mimalloc returns freed memory to the system: the model is read at start in rows far larger
/// than what is kept of them, and the system allocator would keep holding their pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ironworx_server::cli::run()
}
