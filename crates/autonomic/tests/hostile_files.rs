//! Hostile files against the real binary: a device that never ends, a FIFO nobody writes
//! to, a line that never ends, a value of a megabyte. Each must be refused at once with a
//! short, clear error; none may hang, grow without bound or echo the input back.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A safety net, not the assertion: a child still running after this is killed, and the
/// test fails.
const GUARD: Duration = Duration::from_secs(20);

/// The longest error output any of these may print.
const SHORT: usize = 2_000;

/// Runs `autonomic ARGS` in `dir`; kills it and fails if it outlives [`GUARD`].
fn autonomic(args: &[&str], dir: &Path) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = Command::new(common::autonomic())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start autonomic");
    // Output is read after exit; an error that outgrows a pipe's buffer would block the
    // child, which the guard then reports as a hang: bounded output is part of the test.
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > GUARD {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "autonomic {args:?} still ran after {GUARD:?}; stderr began {:?}",
                String::from_utf8_lossy(&out.stderr[..out.stderr.len().min(500)])
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    (child.wait_with_output().expect("collect output"), elapsed)
}

/// Asserts a prompt, failed, short answer whose error output contains `want`.
fn assert_refused(args: &[&str], dir: &Path, want: &str) {
    let (out, elapsed) = autonomic(args, dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "autonomic {args:?} accepted it: {stderr}");
    assert!(stderr.contains(want), "autonomic {args:?}: wanted {want:?} in {stderr:?}");
    assert!(stderr.len() <= SHORT, "autonomic {args:?} wrote {} bytes of errors: {stderr:.500}", stderr.len());
    assert!(out.stdout.len() <= SHORT, "autonomic {args:?} wrote {} bytes to stdout", out.stdout.len());
    eprintln!("autonomic {args:?}: refused in {elapsed:?}");
}

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in a temp path");
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

#[test]
fn check_refuses_a_device_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_refused(
        &["check", "/dev/zero"],
        dir.path(),
        "/dev/zero:0:0: not a regular file but a character device; give a regular file",
    );
}

#[test]
fn check_refuses_a_fifo_given_as_the_configuration_or_matched_by_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    mkfifo(&dir.path().join("config.yaml"));
    assert_refused(&["check", "config.yaml"], dir.path(), "config.yaml:0:0: not a regular file but a FIFO");
    assert_refused(&["run", "--config", "config.yaml"], dir.path(), "config.yaml:0:0: not a regular file but a FIFO");

    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    mkfifo(&dir.path().join("rules/a.yaml"));
    mkfifo(&dir.path().join("playbooks.yaml"));
    std::fs::write(dir.path().join("ok.yaml"), "rules: [rules/*.yaml]\nplaybook_files: [playbooks.yaml]\n")
        .expect("write");
    assert_refused(&["check", "ok.yaml"], dir.path(), "a.yaml: not a regular file but a FIFO");
    assert_refused(&["check", "ok.yaml"], dir.path(), "playbooks.yaml: not a regular file but a FIFO");
}

#[test]
fn check_refuses_a_file_over_the_limit_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = std::fs::File::create(dir.path().join("big.yaml")).expect("create");
    // Sparse: a terabyte that costs no disk, refused on its size alone.
    big.set_len(1 << 40).expect("sparse file");
    assert_refused(&["check", "big.yaml"], dir.path(), "big.yaml:0:0: larger than the limit of 16777216 bytes");
}

#[test]
fn detect_refuses_a_device_and_a_line_that_never_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_refused(&["detect", "/dev/zero"], dir.path(), "/dev/zero: not a regular file but a character device");
    let fifo = dir.path().join("history.csv");
    mkfifo(&fifo);
    assert_refused(&["detect", "history.csv"], dir.path(), "history.csv: not a regular file but a FIFO");
    // A regular file of zeros without a newline: read only up to the limit on a line.
    let zeros = std::fs::File::create(dir.path().join("zeros.csv")).expect("create");
    zeros.set_len(1 << 34).expect("sparse file");
    assert_refused(&["detect", "zeros.csv"], dir.path(), "zeros.csv: line 1 is longer than 1048576 bytes");
}

#[test]
fn a_megabyte_value_is_refused_with_a_short_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = "j".repeat(1 << 20);
    let text = format!(
        "journal: {journal}\nscrape: {{ interval: 1s, timeout: {long}s }}\nservices:\n  a: {{ targets: [\"{host}:80\"] }}\n",
        long = "9".repeat(1 << 20),
        host = "h".repeat(1 << 20),
    );
    std::fs::write(dir.path().join("config.yaml"), text).expect("write");
    assert_refused(&["check", "config.yaml"], dir.path(), "config.yaml:1:10: journal = \"jjjj");
    assert_refused(&["check", "config.yaml"], dir.path(), "a path has at most 4096 bytes");
    assert_refused(&["check", "config.yaml"], dir.path(), "(1048576 bytes)");
    assert_refused(&["run", "--config", "config.yaml"], dir.path(), "3 error(s); not starting");
}
