//! The API over TLS (`api.tls`): a client that trusts the certificate gets its answer over
//! rustls; a plain-HTTP request to the same port gets none; a bad certificate or key is
//! refused with what is wrong.

use std::sync::Arc;
use std::time::Duration;

use monitor::SeriesStore;
use rustls::pki_types::pem::PemObject;
use server::{ApiState, TlsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn certificate() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    (cert.cert.pem(), cert.key_pair.serialize_pem())
}

#[tokio::test]
async fn the_api_answers_over_tls_and_only_over_tls() {
    let (cert_pem, key_pem) = certificate();
    let tls = TlsConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).expect("valid pair");
    let store = Arc::new(SeriesStore::new(Duration::from_secs(60), 100));
    let state = ApiState::new(
        store,
        model::TokioClock::shared(),
        promql::Engine::new(),
        model::Health::new(),
        server::ApiLimits { read_timeout: Duration::from_secs(2), ..server::ApiLimits::default() },
    )
    .expect("query threads")
    .with_tls(Some(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server::serve(listener, state));

    // A client that trusts the certificate.
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(der.expect("pem")).expect("root");
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    tls.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.expect("send");
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("Autonomic is Healthy.\n"), "{answer}");

    // Plain HTTP to the TLS port: no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(addr).await.expect("connect");
    plain.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("send");
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut raw)).await;
    assert!(!String::from_utf8_lossy(&raw).contains("Healthy"), "answered in clear text");
}

#[test]
fn a_bad_certificate_or_key_says_what_is_wrong() {
    let (cert_pem, key_pem) = certificate();
    let (_, other_key) = certificate();
    let err = |c: &str, k: &str| TlsConfig::from_pem(c.as_bytes(), k.as_bytes()).expect_err("refused").to_string();
    assert!(err("not a certificate", &key_pem).contains("no valid PEM certificate"));
    assert!(err(&cert_pem, "not a key").contains("no valid PEM private key"));
    assert!(err(&cert_pem, &other_key).contains("cannot be used together"), "{}", err(&cert_pem, &other_key));
}
