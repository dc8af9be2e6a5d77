//! Fuzzes the query API's parameters through its real router: any query string or POSTed
//! form must be answered with a result or a clear error (400, 413, 422 or 503), never a
//! panic and never a 500.
//!
//! Run with `cargo +nightly fuzz run query_api` from the repository root.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use model::{Labels, Sample, SeriesWriter};
use tower::ServiceExt;

struct Api {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let store = Arc::new(monitor::SeriesStore::new(Duration::from_secs(3600), 10_000));
        for i in 0..20 {
            let labels = Labels::from_pairs([("__name__", "m".to_owned()), ("i", i.to_string())]);
            for k in 0..60 {
                store.write(&labels, Sample { t: 1_700_000_000_000 + k * 15_000, v: (i * k) as f64 });
            }
        }
        let limits = server::ApiLimits {
            query_timeout: Duration::from_secs(2),
            max_samples: 200_000,
            max_response_bytes: 1 << 20,
            ..server::ApiLimits::default()
        };
        let state = runtime.block_on(async {
            server::ApiState::new(
                store,
                Arc::new(model::TokioClock::anchored_at(1_700_000_900_000)),
                analyze::promql::Engine::new(),
                model::Health::new(),
                limits,
            )
            .expect("query threads")
        });
        Api { runtime, router: server::router(state) }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let path = if selector & 1 == 0 { "/api/v1/query" } else { "/api/v1/query_range" };
    let request = if selector & 2 == 0 {
        match Request::get(format!("{path}?{text}")).body(Body::empty()) {
            Ok(r) => r,
            Err(_) => return,
        }
    } else {
        match Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(text.to_owned()))
        {
            Ok(r) => r,
            Err(_) => return,
        }
    };
    let api = api();
    let response = api.runtime.block_on(api.router.clone().oneshot(request)).expect("infallible");
    let status = response.status().as_u16();
    assert!(matches!(status, 200 | 400 | 413 | 422 | 503), "answered {status}");
});
