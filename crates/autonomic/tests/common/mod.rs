//! Helpers for end-to-end tests that start the real `autonomic` binary.
#![allow(dead_code)]

pub mod http;
pub mod kube;
pub mod peers;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Tests that run a fleet share two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the fleet lock for the test's duration.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The binary under test.
pub fn autonomic() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_autonomic"))
}

/// A unique tag, put in the environment of the controller so every process it starts
/// inherits it and can be found again (or found missing).
pub fn tag(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), Instant::now().elapsed().as_nanos())
}

/// Starts `autonomic ARGS` tagged with `tag`.
pub fn spawn(args: &[&str], tag: &str, dir: &std::path::Path) -> Child {
    Command::new(autonomic())
        .args(args)
        .current_dir(dir)
        .env("AUTONOMIC_E2E_TAG", tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start autonomic")
}

/// Live (non-zombie) processes whose environment carries `tag`.
pub fn tagged_processes(tag: &str) -> Vec<u32> {
    let needle = format!("AUTONOMIC_E2E_TAG={tag}");
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
                .unwrap_or(true);
            !zombie && env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes())
        })
        .collect()
}

/// Waits until `cond` holds, or panics with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `signal` to `pid`.
pub fn kill(pid: u32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// Kills whatever is left with `tag`, so a failing test does not leak processes.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in tagged_processes(&self.0) {
            kill(pid, libc::SIGKILL);
        }
    }
}
