//! The server binary run as a command (`diff`, `verify`, `explain`, `import`, …) on a test
//! database, as an operator runs it.

use std::path::Path;

use crate::{ADMIN_PASSWORD, TestDb, server_binary};

/// Runs the binary with `args` on `db`, its data directory `data`; (exit code, -1 when a
/// signal ended it; stdout; stderr).
///
/// # Panics
/// When the binary cannot be found or started.
pub async fn run(db: &TestDb, data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(server_binary().expect("binary"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--database-url")
        .arg(db.url())
        .env("IRONWORX_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .await
        .expect("run the command");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
