//! HTTP routes that components mount on Autonomic's one listener, without knowing the web
//! framework: a source that receives pushes (remote write, Alertmanager webhooks) declares
//! its [`Route`]s, and the server mounts them behind authentication, within the route's
//! body limit, and answers with what the handler returns.

use std::sync::Arc;

use crate::component::BoxFuture;

/// What a token may do. Each route needs one role; `admin` may use every route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Reading: the query API and `/metrics`.
    Read,
    /// Pushing telemetry: remote write and the Alertmanager webhook.
    Write,
    /// Everything.
    Admin,
}

impl Role {
    /// Every role, in the order the configuration lists them.
    pub const ALL: [Role; 3] = [Role::Read, Role::Write, Role::Admin];

    /// The name in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// Parses a configuration name.
    pub fn parse(name: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether a token of this role may use a route that needs `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self == Role::Admin || self == needed
    }
}

/// A request as a handler sees it: authenticated, its body complete and within the route's
/// limit.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// Header names in lower case, values as sent (those that are not valid UTF-8 are left
    /// out).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What a handler answers.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// `204 No Content`.
    pub fn no_content() -> Self {
        Self { status: 204, content_type: "text/plain; charset=utf-8", body: Vec::new() }
    }

    /// An error in Prometheus' JSON shape: `{"status":"error","errorType":…,"error":…}`.
    pub fn error(status: u16, error_type: &str, message: &str) -> Self {
        let mut body = String::from("{\"status\":\"error\",\"errorType\":");
        json_string(&mut body, error_type);
        body.push_str(",\"error\":");
        json_string(&mut body, message);
        body.push('}');
        Self { status, content_type: "application/json", body: body.into_bytes() }
    }

    /// `400 Bad Request`, `errorType` `bad_data`.
    pub fn bad_data(message: &str) -> Self {
        Self::error(400, "bad_data", message)
    }
}

/// Appends `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Handles one request of a route.
pub type Handler = Arc<dyn Fn(HttpRequest) -> BoxFuture<'static, HttpResponse> + Send + Sync>;

/// A `POST` route a component serves on the API's listener.
#[derive(Clone)]
pub struct Route {
    /// The path (`/api/v1/write`).
    pub path: &'static str,
    /// The role a token needs to use it.
    pub role: Role,
    /// The largest body accepted; a larger one is refused with 413 before the handler runs.
    pub max_body_bytes: usize,
    /// The handler.
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.path)
            .field("role", &self.role)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_may_do_everything_and_the_others_only_their_own() {
        assert!(Role::Admin.allows(Role::Read) && Role::Admin.allows(Role::Write));
        assert!(Role::Read.allows(Role::Read) && !Role::Read.allows(Role::Write));
        assert!(!Role::Write.allows(Role::Read) && !Role::Write.allows(Role::Admin));
        assert_eq!(Role::parse("write"), Some(Role::Write));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn errors_are_prometheus_json_with_escapes() {
        let r = HttpResponse::error(400, "bad_data", "label \"a\"\nbad\u{1}");
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"status":"error","errorType":"bad_data","error":"label \"a\"\nbad\u0001"}"#
        );
    }
}
