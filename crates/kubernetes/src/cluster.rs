//! Reaching the cluster: where the kubeconfig is, how long a call may take, and what a
//! failed call means, said plainly (forbidden by RBAC, not found, a conflict, a timeout,
//! an API server out of reach).

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

/// How to reach the cluster (the configuration's `kubernetes:` section).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// The kubeconfig file; `None`: `$KUBECONFIG`, then `~/.kube/config`, then the pod's
    /// own service account (in the cluster).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; `None`: its current context.
    pub context: Option<String>,
    /// How long one API call may take before it fails as a timeout.
    pub request_timeout: Duration,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self { kubeconfig: None, context: None, request_timeout: DEFAULT_REQUEST_TIMEOUT }
    }
}

/// The default time one API call may take: 10 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The kubeconfig named is missing, unreadable or not a kubeconfig.
    #[error("kubeconfig {path}: {reason}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No kubeconfig was named, none is in the usual places, and this is not a pod.
    #[error("no cluster to connect to: {0}")]
    NoCluster(String),
    /// The kubeconfig was read but a client could not be made from it (a bad server URL,
    /// an unreadable certificate).
    #[error("cannot make a Kubernetes client: {0}")]
    Client(String),
}

/// A connected client, with the time each call may take.
#[derive(Clone)]
pub struct Cluster {
    /// The kube-rs client.
    pub client: kube::Client,
    /// The API server's URL, for messages.
    pub server: String,
    /// How long one call may take.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("server", &self.server).finish_non_exhaustive()
    }
}

impl Cluster {
    /// Makes a client as `settings` say. Nothing is sent to the API server yet: a server
    /// that is down shows up on the first call, as [`ApiError::Unreachable`].
    pub async fn connect(settings: &ClusterSettings) -> Result<Self, ConnectError> {
        let options = KubeConfigOptions { context: settings.context.clone(), ..Default::default() };
        let config = match &settings.kubeconfig {
            Some(path) => {
                let shown = path.display().to_string();
                let bad = |reason: String| ConnectError::Kubeconfig { path: shown.clone(), reason };
                if !path.exists() {
                    return Err(bad("no such file".into()));
                }
                let kubeconfig = Kubeconfig::read_from(path).map_err(|e| bad(e.to_string()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|e| bad(e.to_string()))?
            }
            None => match kube::Config::from_kubeconfig(&options).await {
                Ok(config) => config,
                Err(from_file) => kube::Config::incluster().map_err(|in_cluster| {
                    ConnectError::NoCluster(format!(
                        "no usable kubeconfig ({from_file}) and not in a pod ({in_cluster}); set KUBECONFIG or kubernetes.kubeconfig"
                    ))
                })?,
            },
        };
        let mut config = config;
        // kube-rs retries 429, 503 and 504 on its own by default: an eviction a disruption
        // budget refuses (429) must come back to the drain that decides what to do with
        // it, and a call must fail within its timeout rather than retry past it.
        config.default_retry = false;
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| ConnectError::Client(e.to_string()))?;
        Ok(Self { client, server, request_timeout: settings.request_timeout })
    }

    /// Runs one API call under the request timeout; `what` names it for the error
    /// (`get deployment shop/checkout`).
    pub async fn call<T>(
        &self,
        what: impl FnOnce() -> String,
        call: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.request_timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ApiError::from_kube(what(), e)),
            Err(_) => Err(ApiError::Timeout { what: what(), after: self.request_timeout }),
        }
    }
}

/// Why an API call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// No answer within the request timeout.
    #[error("{what}: the API server did not answer within {}", model::format_duration(*after))]
    Timeout {
        /// The call.
        what: String,
        /// The timeout.
        after: Duration,
    },
    /// 403: the controller's RBAC does not allow it.
    #[error("{what}: forbidden (403): {message}")]
    Forbidden {
        /// The call.
        what: String,
        /// The API server's message (who, which verb, which resource).
        message: String,
    },
    /// 404: no such object.
    #[error("{what}: not found (404): {message}")]
    NotFound {
        /// The call.
        what: String,
        /// The API server's message.
        message: String,
    },
    /// 409: the object changed since it was read.
    #[error("{what}: conflict (409): {message}")]
    Conflict {
        /// The call.
        what: String,
        /// The API server's message.
        message: String,
    },
    /// 429: refused for now (an eviction a PodDisruptionBudget does not allow yet).
    #[error("{what}: refused for now (429): {message}")]
    TooManyRequests {
        /// The call.
        what: String,
        /// The API server's message.
        message: String,
    },
    /// Another status from the API server.
    #[error("{what}: {code} {reason}: {message}")]
    Refused {
        /// The call.
        what: String,
        /// The HTTP status.
        code: u16,
        /// The API's reason (`Invalid`, `BadRequest`).
        reason: String,
        /// The API server's message.
        message: String,
    },
    /// No HTTP answer at all: connection refused, TLS failure, a broken response.
    #[error("{what}: cannot reach the API server: {message}")]
    Unreachable {
        /// The call.
        what: String,
        /// What went wrong.
        message: String,
    },
}

impl ApiError {
    fn from_kube(what: String, e: kube::Error) -> Self {
        match e {
            kube::Error::Api(status) => {
                let message = status.message.clone();
                match status.code {
                    403 => Self::Forbidden { what, message },
                    404 => Self::NotFound { what, message },
                    409 => Self::Conflict { what, message },
                    429 => Self::TooManyRequests { what, message },
                    code => Self::Refused { what, code, reason: status.reason.clone(), message },
                }
            }
            other => Self::Unreachable { what, message: error_chain(&other) },
        }
    }

    /// Whether the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// An error and its sources on one line: kube-rs wraps the cause (connection refused, a
/// certificate) several layers down.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
