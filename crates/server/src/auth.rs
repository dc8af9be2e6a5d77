//! Who may use which route: bearer tokens with roles (`api.tokens`).
//!
//! A request names its token in `Authorization: Bearer <token>`; the token is compared with
//! every configured one in constant time, so the answer's timing tells nothing about how
//! much of a guess was right. Without a valid token a route answers 401; with a token whose
//! role does not allow the route, 403; both in Prometheus' error JSON. With no token
//! configured at all, every route is open, and the listener must be on a loopback address
//! ([`check_listen`]).

use std::net::SocketAddr;

use model::{Role, Secret};

/// One configured token.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Who holds it (for logs; the token itself is never logged).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The token.
    pub secret: Secret,
}

/// The configured tokens. Empty: no authentication (loopback listeners only).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Access {
    tokens: Vec<Token>,
}

/// Why a request may not use a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No token, or not a configured one: 401.
    Unauthenticated(&'static str),
    /// A valid token whose role does not allow the route: 403.
    Forbidden {
        /// The token's name.
        token: String,
        /// Its role.
        role: Role,
        /// The role the route needs.
        needed: Role,
    },
}

impl Access {
    /// Access with these tokens.
    pub fn new(tokens: Vec<Token>) -> Self {
        Self { tokens }
    }

    /// Whether authentication is off (no token configured).
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether a request with this `Authorization` header may use a route that needs
    /// `needed`; on success, the token's name (`None` when authentication is off).
    pub fn authorize(&self, authorization: Option<&[u8]>, needed: Role) -> Result<Option<&str>, Denied> {
        if self.is_open() {
            return Ok(None);
        }
        let Some(header) = authorization else {
            return Err(Denied::Unauthenticated("missing Authorization header (expected: Bearer <token>)"));
        };
        let Some(given) = strip_bearer(header) else {
            return Err(Denied::Unauthenticated("the Authorization header is not of the form: Bearer <token>"));
        };
        // Every token is compared, whatever matched, so the time taken does not say which.
        let mut found: Option<&Token> = None;
        for token in &self.tokens {
            if constant_time_eq(given, token.secret.expose().as_bytes()) {
                found = Some(token);
            }
        }
        let Some(token) = found else { return Err(Denied::Unauthenticated("invalid token")) };
        if token.role.allows(needed) {
            Ok(Some(&token.name))
        } else {
            Err(Denied::Forbidden { token: token.name.clone(), role: token.role, needed })
        }
    }
}

/// The token of a `Bearer` credential (the scheme's case does not matter).
fn strip_bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.strip_prefix(b" ")?.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Whether `a` equals `b`, in time that depends only on the longer length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

/// Refuses to serve without tokens on anything but a loopback address: an API that anyone
/// on the network could use must not be opened by accident.
pub fn check_listen(addr: SocketAddr, access: &Access) -> Result<(), String> {
    if access.is_open() && !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address and no api.tokens are configured: anyone who can reach it could \
             read every series and push samples and alerts; configure api.tokens or listen on 127.0.0.1"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access::new(vec![
            Token { name: "grafana".into(), role: Role::Read, secret: Secret::new("r-token") },
            Token { name: "prometheus".into(), role: Role::Write, secret: Secret::new("w-token") },
            Token { name: "oncall".into(), role: Role::Admin, secret: Secret::new("a-token") },
        ])
    }

    #[test]
    fn a_token_opens_the_routes_of_its_role_only() {
        let a = access();
        assert_eq!(a.authorize(Some(b"Bearer r-token"), Role::Read), Ok(Some("grafana")));
        assert_eq!(a.authorize(Some(b"bearer  w-token "), Role::Write), Ok(Some("prometheus")));
        assert_eq!(a.authorize(Some(b"Bearer a-token"), Role::Write), Ok(Some("oncall")));
        assert!(matches!(
            a.authorize(Some(b"Bearer r-token"), Role::Write),
            Err(Denied::Forbidden { role: Role::Read, needed: Role::Write, .. })
        ));
        assert!(matches!(a.authorize(Some(b"Bearer w-token"), Role::Read), Err(Denied::Forbidden { .. })));
    }

    #[test]
    fn missing_malformed_and_wrong_tokens_are_unauthenticated() {
        let a = access();
        for header in [None, Some(&b"r-token"[..]), Some(b"Basic r-token"), Some(b"Bearer "), Some(b"Bearer r-toke")] {
            assert!(matches!(a.authorize(header, Role::Read), Err(Denied::Unauthenticated(_))), "{header:?}");
        }
        assert!(!constant_time_eq(b"abc", b"abcd") && !constant_time_eq(b"", b"a") && constant_time_eq(b"ab", b"ab"));
    }

    #[test]
    fn without_tokens_only_loopback_may_listen() {
        let open = Access::default();
        assert_eq!(open.authorize(None, Role::Admin), Ok(None));
        assert!(check_listen("127.0.0.1:9464".parse().unwrap(), &open).is_ok());
        assert!(check_listen("[::1]:9464".parse().unwrap(), &open).is_ok());
        let err = check_listen("0.0.0.0:9464".parse().unwrap(), &open).unwrap_err();
        assert!(err.contains("no api.tokens are configured"), "{err}");
        assert!(check_listen("0.0.0.0:9464".parse().unwrap(), &access()).is_ok());
    }
}
