//! One controller per journal: an exclusive `flock` on `<journal>.lock`, taken before SQLite
//! touches the file and held for as long as the journal is open for writing.
//!
//! Why a lock file and not SQLite's exclusive locking mode: readers (`autonomic incidents`,
//! tests reading the database directly) must keep working while a controller runs. Why
//! `flock`: the kernel drops it when its holder dies, however it dies, so a crashed controller
//! never leaves a stale lock behind; the PID in the file is only there to be named.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The longest lock file content read back: a PID and a newline, with room to spare. Whatever
/// else is in the file is not ours and is not echoed.
const MAX_CONTENT: u64 = 64;

/// Why the lock was not taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Another open journal holds it; its PID, if the file names one.
    Held(Option<u32>),
    /// The lock file could not be created, read or written.
    Io(std::io::Error),
}

impl From<std::io::Error> for LockError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub(crate) struct JournalLock {
    file: File,
}

/// `<journal>.lock`, next to the journal's real location: two paths to one journal (a
/// symlink, `./j.db` and `j.db`) share one lock.
pub(crate) fn lock_path(journal: &Path) -> PathBuf {
    let real = std::fs::canonicalize(journal).unwrap_or_else(|_| {
        // Not created yet: its directory still has one real location.
        match (journal.parent().filter(|p| !p.as_os_str().is_empty()), journal.file_name()) {
            (Some(dir), Some(name)) => std::fs::canonicalize(dir).map(|d| d.join(name)),
            (None, Some(name)) => std::env::current_dir().map(|d| d.join(name)),
            _ => Ok(journal.to_path_buf()),
        }
        .unwrap_or_else(|_| journal.to_path_buf())
    });
    let mut name = real.file_name().map(OsString::from).unwrap_or_default();
    name.push(".lock");
    real.with_file_name(name)
}

impl JournalLock {
    /// Takes the lock at `path` without waiting, and writes this process's PID into it.
    pub(crate) fn acquire(path: &Path) -> Result<Self, LockError> {
        // std opens with O_CLOEXEC: supervised children never inherit (and keep) the lock.
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        // SAFETY: flock on a descriptor we own has no memory-safety preconditions.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(LockError::Held(holder(&mut file)));
            }
            return Err(LockError::Io(e));
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        Ok(Self { file })
    }
}

/// The PID a lock file names, if it names one.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(MAX_CONTENT).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

impl Drop for JournalLock {
    fn drop(&mut self) {
        // Still held here: nobody reads a PID that is about to be wrong. The file itself stays
        // (removing it would let a process that opened it just before lock an unlinked file
        // while the next one locks a new file of the same name).
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_free_once_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = lock_path(&dir.path().join("j.db"));
        assert_eq!(path, std::fs::canonicalize(dir.path()).expect("dir").join("j.db.lock"));
        let first = JournalLock::acquire(&path).expect("first");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), format!("{}\n", std::process::id()));
        // flock belongs to an open file description: a second open in this process conflicts
        // exactly as another process would.
        match JournalLock::acquire(&path) {
            Err(LockError::Held(pid)) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected the lock to be held, got {other:?}"),
        }
        drop(first);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "", "no stale PID");
        JournalLock::acquire(&path).expect("free again");
    }

    #[test]
    fn a_hostile_lock_file_is_not_echoed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db.lock");
        let _held = JournalLock::acquire(&path).expect("first");
        std::fs::write(&path, "x".repeat(10_000)).expect("overwrite");
        match JournalLock::acquire(&path) {
            Err(LockError::Held(pid)) => assert_eq!(pid, None),
            other => panic!("expected the lock to be held, got {other:?}"),
        }
    }

    #[test]
    fn symlinked_paths_share_one_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("j.db"), b"").expect("create");
        std::os::unix::fs::symlink(dir.path().join("j.db"), dir.path().join("alias.db")).expect("symlink");
        assert_eq!(lock_path(&dir.path().join("alias.db")), lock_path(&dir.path().join("j.db")));
    }
}
