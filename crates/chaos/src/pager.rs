//! A webhook receiver that records pages, standing in for the on-call's pager.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use tokio::task::JoinHandle;

/// A running page receiver on 127.0.0.1.
#[derive(Debug)]
pub struct PageReceiver {
    /// `http://127.0.0.1:PORT/page`.
    pub url: String,
    pages: Arc<Mutex<Vec<serde_json::Value>>>,
    task: JoinHandle<()>,
}

async fn receive(
    State(pages): State<Arc<Mutex<Vec<serde_json::Value>>>>,
    Json(body): Json<serde_json::Value>,
) -> &'static str {
    pages.lock().unwrap_or_else(|p| p.into_inner()).push(body);
    "recorded"
}

impl PageReceiver {
    /// Starts listening on a free port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/page", listener.local_addr()?);
        let pages = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().route("/page", post(receive)).with_state(pages.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, pages, task })
    }

    /// Pages received so far.
    pub fn pages(&self) -> Vec<serde_json::Value> {
        self.pages.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for PageReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
