//! Reading an input file without trusting it: only a regular file, and never more than a
//! limit. A FIFO given as a configuration blocks a reader forever, `/dev/zero` never ends, a
//! directory is not text; each is refused with a clear error before anything is read, and a
//! file over the limit is refused having read at most one byte more than the limit.
//!
//! It lives here because every configuration, rule and playbook file becomes text on its way
//! to [`crate::parse_document`], and every crate that reads one (`controller`, the binary's
//! `check` and `detect`) already depends on this crate, while `model` does no I/O.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest configuration, rule or playbook file read: 16 MiB.
pub const MAX_SOURCE_BYTES: u64 = 16 << 20;

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It could not be opened (missing, no permission…).
    #[error("cannot open: {0}")]
    Open(#[source] io::Error),
    /// It is not a regular file.
    #[error("not a regular file but a {0}; give a regular file")]
    NotRegular(&'static str),
    /// It is larger than the limit.
    #[error("larger than the limit of {limit} bytes{}", size.map(|s| format!(" ({s} bytes)")).unwrap_or_default())]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
        /// Its size when known before reading (a file that grows while read has none).
        size: Option<u64>,
    },
    /// Reading it failed.
    #[error("cannot read: {0}")]
    Read(#[source] io::Error),
    /// It is not UTF-8 text.
    #[error("not UTF-8 text (invalid byte at offset {0})")]
    NotUtf8(usize),
}

/// What kind of file this is, for errors.
fn kind(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// Opens `path` for reading if it is a regular file (symbolic links followed). The file is
/// opened without blocking, so a FIFO with no writer is refused instead of waiting for
/// one, and its type is checked on the opened file itself, so it cannot be swapped between
/// the check and the read. Returns the file and its size.
pub fn open_regular(path: &Path) -> Result<(File, u64), ReadError> {
    let file = match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path) {
        Ok(file) => file,
        // A socket cannot be opened at all (ENXIO): say what it is rather than "no such device".
        Err(e) => {
            return Err(match std::fs::metadata(path) {
                Ok(m) if !m.is_file() => ReadError::NotRegular(kind(m.file_type())),
                _ => ReadError::Open(e),
            });
        }
    };
    let meta = file.metadata().map_err(ReadError::Open)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    Ok((file, meta.len()))
}

/// Reads the regular file at `path`, at most `limit` bytes: a file whose size says it is
/// larger is refused before reading, and one that grows while it is read (or whose size is
/// not known beforehand, as in `/proc`) is refused after `limit + 1` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, size) = open_regular(path)?;
    if size > limit {
        return Err(ReadError::TooLarge { limit, size: Some(size) });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(ReadError::Read)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit, size: None });
    }
    Ok(bytes)
}

/// Reads a configuration, rule or playbook file as text: a regular file of at most
/// [`MAX_SOURCE_BYTES`], in UTF-8.
pub fn read_source(path: &Path) -> Result<String, ReadError> {
    let bytes = read_bounded(path, MAX_SOURCE_BYTES)?;
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8(e.utf8_error().valid_up_to()))
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::time::{Duration, Instant};

    use super::*;

    fn mkfifo(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).expect("no NUL in a temp path");
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo: {}", io::Error::last_os_error());
    }

    #[test]
    fn a_fifo_without_a_writer_is_refused_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("config.yaml");
        mkfifo(&fifo);
        let start = Instant::now();
        let err = read_source(&fifo).expect_err("a FIFO is not a regular file");
        assert!(matches!(err, ReadError::NotRegular("FIFO")), "{err}");
        assert_eq!(err.to_string(), "not a regular file but a FIFO; give a regular file");
        assert!(start.elapsed() < Duration::from_secs(5), "it did not wait for a writer");
    }

    #[test]
    fn a_directory_and_a_device_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(read_source(dir.path()), Err(ReadError::NotRegular("directory"))));
        let start = Instant::now();
        assert!(matches!(read_source(Path::new("/dev/zero")), Err(ReadError::NotRegular("character device"))));
        assert!(matches!(read_bounded(Path::new("/dev/null"), 10), Err(ReadError::NotRegular("character device"))));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_socket_is_named_as_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        assert!(matches!(read_source(&path), Err(ReadError::NotRegular("socket"))));
    }

    #[test]
    fn a_missing_file_says_it_cannot_be_opened() {
        let err = read_source(Path::new("/nonexistent/autonomic.yaml")).expect_err("missing");
        assert!(matches!(err, ReadError::Open(_)), "{err}");
        assert!(err.to_string().starts_with("cannot open: "), "{err}");
    }

    #[test]
    fn a_file_at_the_limit_is_read_and_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = dir.path().join("at.yaml");
        std::fs::write(&at, vec![b'a'; 1000]).expect("write");
        assert_eq!(read_bounded(&at, 1000).expect("at the limit").len(), 1000);
        let over = dir.path().join("over.yaml");
        std::fs::write(&over, vec![b'a'; 1001]).expect("write");
        let err = read_bounded(&over, 1000).expect_err("over the limit");
        assert!(matches!(err, ReadError::TooLarge { limit: 1000, size: Some(1001) }), "{err}");
        assert_eq!(err.to_string(), "larger than the limit of 1000 bytes (1001 bytes)");
    }

    #[test]
    fn the_source_limit_is_sixteen_mebibytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = dir.path().join("at.yaml");
        let file = File::create(&at).expect("create");
        file.set_len(MAX_SOURCE_BYTES).expect("sparse file at the limit");
        assert_eq!(read_source(&at).expect("at the limit").len() as u64, MAX_SOURCE_BYTES);
        file.set_len(MAX_SOURCE_BYTES + 1).expect("one byte more");
        assert!(matches!(read_source(&at), Err(ReadError::TooLarge { size: Some(_), .. })));
    }

    #[test]
    fn a_file_whose_size_is_not_known_beforehand_is_still_cut_at_the_limit() {
        // Files in /proc say they are empty and then produce text.
        let text = read_bounded(Path::new("/proc/self/status"), 1 << 20).expect("small enough");
        assert!(!text.is_empty());
        let err = read_bounded(Path::new("/proc/self/status"), 8).expect_err("more than 8 bytes");
        assert!(matches!(err, ReadError::TooLarge { limit: 8, size: None }), "{err}");
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_with_its_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bin.yaml");
        std::fs::write(&path, b"a: 1\n\xff").expect("write");
        assert!(matches!(read_source(&path), Err(ReadError::NotUtf8(5))));
    }
}
