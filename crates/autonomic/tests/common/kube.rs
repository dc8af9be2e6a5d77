//! The Kubernetes test bed (`scripts/k8s-testbed`) for end-to-end tests: its kubeconfig and
//! its `kubectl`, found through `scripts/k8s-testbed env`. Without it a test says it
//! skipped, unless `AUTONOMIC_REQUIRE_KUBERNETES` is set (as `.ci/run` sets it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The running test bed.
pub struct Testbed {
    /// Its admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// The `kubectl` built with it.
    pub kubectl: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/k8s-testbed")
}

/// The test bed, if it runs.
pub fn testbed() -> Option<Testbed> {
    let required = std::env::var_os("AUTONOMIC_REQUIRE_KUBERNETES").is_some();
    let missing = |why: String| {
        assert!(!required, "the Kubernetes test bed is required here: {why} (scripts/k8s-testbed build && start)");
        eprintln!("skipped: no Kubernetes test bed: {why} (scripts/k8s-testbed build && scripts/k8s-testbed start)");
        None
    };
    let out = match Command::new("bash").arg(script()).arg("env").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => return missing(String::from_utf8_lossy(&o.stderr).into_owned()),
        Err(e) => return missing(e.to_string()),
    };
    // `export KUBECONFIG=…` and `export PATH=…:"$PATH"`, shell-quoted by printf %q (no
    // quoting is needed for the paths the script chooses).
    let value =
        |name: &str| out.lines().find_map(|l| l.strip_prefix(&format!("export {name}=")).map(|v| v.trim().to_owned()));
    let kubeconfig = PathBuf::from(value("KUBECONFIG")?);
    let bin = value("PATH")?.split(':').next().map(PathBuf::from)?;
    let bed = Testbed { kubeconfig, kubectl: bin.join("kubectl") };
    if !bed.kubeconfig.exists() {
        return missing(format!("{} does not exist: the test bed is not started", bed.kubeconfig.display()));
    }
    match bed.kubectl(&["get", "--raw", "/readyz"], None) {
        Ok(_) => Some(bed),
        Err(e) => missing(e),
    }
}

impl Testbed {
    /// Runs `kubectl ARGS` (with `stdin` piped in, if any): its output, or what it said.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut child = Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.kubectl.display()))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            pipe.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// `kubectl`, failing the test if it fails.
    pub fn must(&self, args: &[&str], stdin: Option<&str>) -> String {
        self.kubectl(args, stdin).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A namespace of the test's own, deleted when the returned guard drops.
    pub fn namespace(&self, prefix: &str) -> Namespace<'_> {
        let name = format!(
            "{prefix}-{:x}",
            std::process::id()
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0)
        );
        self.must(&["create", "namespace", &name], None);
        Namespace { bed: self, name }
    }
}

/// A namespace deleted on drop.
pub struct Namespace<'a> {
    bed: &'a Testbed,
    /// Its name.
    pub name: String,
}

impl Drop for Namespace<'_> {
    fn drop(&mut self) {
        let _ = self.bed.kubectl(&["delete", "namespace", &self.name, "--wait=false"], None);
    }
}
