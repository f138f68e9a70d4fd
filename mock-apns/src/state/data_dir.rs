//! The data directory: created when missing, held by one process at a time, and every
//! way it can be unusable said in one line that names it and what to do.
//!
//! The hold is an OS file lock (`flock`) on `lock` in the directory, taken before the
//! state database is opened. The kernel releases it when the holder exits however it
//! exits, so a `kill -9` never leaves a stale lock; the file keeps the holder's pid so the
//! refusal can name it.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, Write};
use std::path::Path;

use crate::error::Error;

/// The lock file's name in the data directory.
const LOCK_FILE: &str = "lock";

/// The data directory, held for this process until dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    /// Open while held: closing it releases the lock.
    _file: File,
}

/// Creates `dir` if needed and takes it for this process.
pub(crate) fn take(dir: &Path) -> Result<DirLock, Error> {
    std::fs::create_dir_all(dir).map_err(|e| unusable(dir, &e))?;
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| unusable(dir, &e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            // A pid is a few digits; read no more than that from a file anyone could fill.
            let _ = (&mut file).take(32).read_to_string(&mut holder);
            return Err(Error::Busy { dir: dir.to_path_buf(), pid: holder.trim().parse().ok() });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(unusable(dir, &e)),
    }
    let mine = format!("{}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(mine.as_bytes()))
        .and_then(|()| file.flush())
        .map_err(|e| unusable(dir, &e))?;
    Ok(DirLock { _file: file })
}

/// Why `dir` cannot be used, and what to do about it, from what the OS said.
pub(crate) fn unusable(dir: &Path, e: &std::io::Error) -> Error {
    let problem = match e.kind() {
        ErrorKind::AlreadyExists | ErrorKind::NotADirectory => {
            "it is a file, not a directory: give --data-dir a directory (it is created when missing)".to_owned()
        }
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            format!(
                "this user cannot write there ({e}): give --data-dir a directory you can write, or fix its permissions"
            )
        }
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => disk_full(e),
        _ => format!("{e}: give --data-dir a directory this user can create and write"),
    };
    Error::DataDir { dir: dir.to_path_buf(), problem }
}

/// What to say when the disk under the data dir is full (`e`: what reported it).
pub(crate) fn disk_full(e: &dyn std::fmt::Display) -> String {
    format!("the disk is full ({e}): free some space, or give --data-dir a directory on another disk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_and_can_take_it_after() {
        let dir = tempfile::tempdir().expect("temp dir");
        let held = take(dir.path()).expect("first");
        match take(dir.path()) {
            Err(Error::Busy { dir: d, pid }) => {
                assert_eq!((d.as_path(), pid), (dir.path(), Some(std::process::id())));
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(held);
        take(dir.path()).expect("free again once the first is dropped");
    }

    #[test]
    fn every_unusable_dir_says_what_to_do() {
        let dir = Path::new("/data/apns-lab");
        let check = |kind: ErrorKind, expect: &str| {
            let message = unusable(dir, &std::io::Error::from(kind)).to_string();
            assert!(message.starts_with("data dir /data/apns-lab: "), "{message}");
            assert!(message.contains(expect), "{message}");
        };
        check(ErrorKind::AlreadyExists, "is a file, not a directory");
        check(ErrorKind::NotADirectory, "is a file, not a directory");
        check(ErrorKind::PermissionDenied, "give --data-dir a directory you can write");
        check(ErrorKind::StorageFull, "the disk is full");
        check(ErrorKind::QuotaExceeded, "free some space");
    }
}
