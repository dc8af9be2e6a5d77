//! Starting and stopping one OS process (and everything it spawned).
//!
//! Each replica runs in its own process group, so a stop reaches its children too, and a
//! Ctrl-C in the controller's terminal does not hit the fleet before the controller has
//! decided how to stop it. Three layers keep orphans from outliving the controller:
//! the orderly stop (SIGTERM, grace, SIGKILL to the group), [`kill_all_now`] for panics and
//! fatal signals, and `PR_SET_PDEATHSIG` so the kernel kills a child whose parent vanished
//! (even by SIGKILL).

use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::logs::LogRing;

/// Process groups currently alive, for the emergency stop.
static LIVE_GROUPS: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

fn register(pgid: i32) {
    let mut g = LIVE_GROUPS.lock().unwrap_or_else(|p| p.into_inner());
    g.get_or_insert_with(HashSet::new).insert(pgid);
}

fn unregister(pgid: i32) {
    let mut g = LIVE_GROUPS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(set) = g.as_mut() {
        set.remove(&pgid);
    }
}

/// SIGKILLs every process group this process started and has not yet reaped. Safe to call
/// from a panic hook or a signal handler path: it takes one lock and makes syscalls.
pub fn kill_all_now() {
    let groups: Vec<i32> = {
        let g = LIVE_GROUPS.lock().unwrap_or_else(|p| p.into_inner());
        g.as_ref().map(|s| s.iter().copied().collect()).unwrap_or_default()
    };
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// A running child process.
#[derive(Debug)]
pub(crate) struct Running {
    pub child: Child,
    pub pid: u32,
}

/// Starts `argv` with `env` added, in a new process group, output captured into `logs`.
pub(crate) fn spawn(argv: &[String], env: &BTreeMap<String, String>, logs: &LogRing) -> std::io::Result<Running> {
    let (program, args) =
        argv.split_first().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
    // prctl/getppid; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl (the child then belongs to init
            // or a subreaper); nobody would kill us then.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("parent exited during spawn"));
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id().ok_or_else(|| std::io::Error::other("child exited before its pid was read"))?;
    register(pid as i32);
    if let Some(out) = child.stdout.take() {
        pump(BufReader::new(out), logs.clone());
    }
    if let Some(err) = child.stderr.take() {
        pump(BufReader::new(err), logs.clone());
    }
    Ok(Running { child, pid })
}

fn pump<R: tokio::io::AsyncRead + Unpin + Send + 'static>(reader: BufReader<R>, logs: LogRing) {
    tokio::spawn(async move {
        let mut lines = reader.lines();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => logs.push(line),
                Ok(None) => break,
                // Invalid UTF-8 or a read error: keep a marker, stop reading this stream.
                Err(e) => {
                    logs.push(format!("[output unreadable: {e}]"));
                    break;
                }
            }
        }
    });
}

/// Marks a reaped process's group as gone.
pub(crate) fn reaped(pid: u32) {
    unregister(pid as i32);
}

/// Sends `signal` to the whole process group led by `pid`.
pub(crate) fn signal_group(pid: u32, signal: Signal) -> nix::Result<()> {
    killpg(Pid::from_raw(pid as i32), signal)
}

/// Stops a process: SIGTERM to its group, then SIGKILL after `grace`. Returns how it ended.
pub(crate) async fn stop(running: &mut Running, grace: Duration) -> String {
    let _ = signal_group(running.pid, Signal::SIGTERM);
    let ended = match tokio::time::timeout(grace, running.child.wait()).await {
        Ok(Ok(status)) => format!("stopped ({status})"),
        Ok(Err(e)) => format!("stopped (wait failed: {e})"),
        Err(_) => {
            let _ = signal_group(running.pid, Signal::SIGKILL);
            match running.child.wait().await {
                Ok(status) => format!("killed after {}ms grace ({status})", grace.as_millis()),
                Err(e) => format!("killed (wait failed: {e})"),
            }
        }
    };
    // Anything the process left behind in its group goes too.
    let _ = signal_group(running.pid, Signal::SIGKILL);
    reaped(running.pid);
    ended
}

/// Parses a signal name as `kill -l` prints it, with or without the `SIG` prefix.
pub fn parse_signal(name: &str) -> Option<Signal> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    full.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_parse_with_or_without_prefix() {
        assert_eq!(parse_signal("HUP"), Some(Signal::SIGHUP));
        assert_eq!(parse_signal("sigusr1"), Some(Signal::SIGUSR1));
        assert_eq!(parse_signal("SIGTERM"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("BOGUS"), None);
    }
}
