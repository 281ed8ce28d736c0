//! What the log and the snapshot files share about the disk: the storage
//! error, naming a failed operation's file, listing numbered files and
//! syncing a directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StorageError {
    #[error(
        "no synod data in {}: a node of a new cluster is initialised once with `synod node --init`; \
         a node whose disk was lost while its cluster ran on comes back with `synod node --rejoin` \
         (as a learner that never votes)",
        .0.display()
    )]
    Missing(PathBuf),
    #[error(
        "refusing --init: {} already holds this node's log (it was initialised before); \
         start the node without --init",
        .0.display()
    )]
    Exists(PathBuf),
    #[error(
        "corrupt write-ahead log {file} at byte {offset}: {reason}; refusing to start (restore the node's data directory, or wipe it and let the node rejoin)"
    )]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("{op} {file}: {source}")]
    Io {
        op: &'static str,
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("the write-ahead log failed earlier ({0}); nothing more is accepted")]
    Poisoned(String),
    #[error(
        "{} is in use by another process ({holder}): two nodes on one log would corrupt it",
        .dir.display()
    )]
    Locked { dir: PathBuf, holder: String },
}

/// Turns an io error of `op` on `file` into a [`StorageError`].
pub(crate) fn io(
    op: &'static str,
    file: &Path,
) -> impl FnOnce(std::io::Error) -> StorageError + use<> {
    let file = file.to_path_buf();
    move |source| StorageError::Io { op, file, source }
}

/// The files `<prefix><number><suffix>` in `dir`, in number order.
pub(crate) fn numbered_files(
    dir: &Path,
    prefix: &str,
    suffix: &str,
) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("listing", dir))? {
        let entry = entry.map_err(io("listing", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix(prefix)
            .and_then(|s| s.strip_suffix(suffix))
            .and_then(|s| s.parse().ok())
        {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Makes a directory's entries (files created, renamed or removed)
/// durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing directory", dir))
}
