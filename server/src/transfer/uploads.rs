//! Where import uploads wait, and who may upload: each process spools uploads into a folder of
//! its own under `<data-dir>/uploads/`, held by a lock on the file `lock` inside it for as long
//! as the process lives; at start every folder whose lock is free (its process is gone) is
//! removed. And each user has at most one upload under way at a time.

use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

/// The folder of the data directory holding the spool folders of every process.
pub const UPLOADS_DIR: &str = "uploads";

/// The lock file inside a spool folder.
pub const LOCK_FILE: &str = "lock";

/// The prefix of an upload's temporary file.
pub const UPLOAD_PREFIX: &str = ".upload-";

/// How old a spool folder without a lock file must be before it counts as abandoned (a
/// process creates the lock file right after the folder).
pub const UNLOCKED_GRACE: Duration = Duration::from_secs(60);

/// Why the spool folder could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file system operation failed.
    #[error("upload folder {path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// This process's spool folder, locked while the process lives.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    _lock: File,
}

impl Spool {
    /// Creates and locks a new spool folder `<data_dir>/uploads/<random id>/`.
    pub fn create(data_dir: &Path) -> Result<Spool, SpoolError> {
        let parent = data_dir.join(UPLOADS_DIR);
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let dir = tempfile::Builder::new()
            .prefix("")
            .rand_bytes(16)
            .tempdir_in(&parent)
            .map_err(io(&parent))?
            .keep();
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::create(&lock_path).map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        Ok(Spool { dir, _lock: lock })
    }

    /// The folder uploads are saved in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes the folder with whatever it holds (at a clean shutdown).
    pub fn remove(&self) -> Result<(), SpoolError> {
        std::fs::remove_dir_all(&self.dir).map_err(io(&self.dir))
    }
}

/// Removes what crashed processes left in `data_dir`: every spool folder whose lock is free
/// (and any without a lock file, once older than [`UNLOCKED_GRACE`]), and the upload files
/// older versions left in the data directory itself. Folders of live processes stay. Gives the
/// paths removed.
pub fn sweep(data_dir: &Path, keep: Option<&Path>) -> Result<Vec<PathBuf>, SpoolError> {
    let mut removed = Vec::new();
    let entries = std::fs::read_dir(data_dir).map_err(io(data_dir))?;
    for entry in entries {
        let entry = entry.map_err(io(data_dir))?;
        let is_upload = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(UPLOAD_PREFIX));
        if is_upload && entry.file_type().map_err(io(data_dir))?.is_file() {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io(&path))?;
            removed.push(path);
        }
    }
    let parent = data_dir.join(UPLOADS_DIR);
    let entries = match std::fs::read_dir(&parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(io(&parent)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(&parent))?;
        let path = entry.path();
        if keep == Some(path.as_path()) || !entry.file_type().map_err(io(&path))?.is_dir() {
            continue;
        }
        if abandoned(&path)? {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => removed.push(path),
                // Another process swept it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
    }
    Ok(removed)
}

/// Whether the spool folder `dir` belongs to no live process.
fn abandoned(dir: &Path) -> Result<bool, SpoolError> {
    let lock_path = dir.join(LOCK_FILE);
    match File::open(&lock_path) {
        Ok(lock) => match lock.try_lock() {
            Ok(()) => Ok(true),
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(io(&lock_path)(e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let modified = std::fs::metadata(dir)
                .and_then(|m| m.modified())
                .map_err(io(dir))?;
            let age = SystemTime::now()
                .duration_since(modified)
                .unwrap_or_default();
            Ok(age > UNLOCKED_GRACE)
        }
        Err(e) => Err(io(&lock_path)(e)),
    }
}

static SPOOL: OnceLock<Spool> = OnceLock::new();

/// Prepares this process's spool folder under `data_dir` (once), after sweeping what crashed
/// processes left there.
pub fn open(data_dir: &Path) -> Result<&'static Spool, SpoolError> {
    if let Some(spool) = SPOOL.get() {
        return Ok(spool);
    }
    for path in sweep(data_dir, None)? {
        tracing::info!(path = %path.display(), "removed an upload left by a stopped process");
    }
    let spool = Spool::create(data_dir)?;
    Ok(SPOOL.get_or_init(|| spool))
}

/// This process's spool folder, when [`open`] prepared it.
pub fn spool() -> Option<&'static Spool> {
    SPOOL.get()
}

static UPLOADERS: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

/// A user's one upload under way; the user may start another once it is dropped.
#[derive(Debug)]
pub struct UploadTicket {
    user: String,
}

impl UploadTicket {
    /// The ticket of `user`, unless the user already holds one.
    pub fn take(user: &str) -> Option<UploadTicket> {
        let mut uploaders = UPLOADERS.lock().unwrap_or_else(PoisonError::into_inner);
        uploaders.insert(user.to_owned()).then(|| UploadTicket {
            user: user.to_owned(),
        })
    }
}

impl Drop for UploadTicket {
    fn drop(&mut self) {
        let mut uploaders = UPLOADERS.lock().unwrap_or_else(PoisonError::into_inner);
        uploaders.remove(&self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_folder_stays_and_an_abandoned_one_goes() {
        let data = tempfile::tempdir().expect("tempdir");
        let live = Spool::create(data.path()).expect("spool");
        let gone = Spool::create(data.path()).expect("spool");
        let gone_dir = gone.dir().to_path_buf();
        std::fs::write(gone_dir.join(".upload-x"), b"left").expect("write");
        std::fs::write(live.dir().join(".upload-y"), b"live").expect("write");
        drop(gone);
        std::fs::write(data.path().join(".upload-old"), b"old").expect("write");

        let removed = sweep(data.path(), None).expect("sweep");
        assert!(removed.contains(&gone_dir), "{removed:?}");
        assert!(
            removed.contains(&data.path().join(".upload-old")),
            "{removed:?}"
        );
        assert!(!gone_dir.exists());
        assert!(live.dir().join(".upload-y").exists());
    }

    #[test]
    fn one_ticket_per_user() {
        let first = UploadTicket::take("ticket-user").expect("first");
        assert!(UploadTicket::take("ticket-user").is_none());
        assert!(UploadTicket::take("ticket-other").is_some());
        drop(first);
        assert!(UploadTicket::take("ticket-user").is_some());
    }
}
