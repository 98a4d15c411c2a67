//! Shared fixtures: a recording fake handler and temp copies of the reference function app.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use functions_host::FunctionApp;
use serde_json::Value;

/// The reference data shipped with the project (copied into the repository's `tests/fixtures`).
pub const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/functions-host");

/// One request as the fake handler saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// Path and query exactly as received.
    pub uri: String,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first header with this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }
}

/// What the fake handler answers.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(&'static str, &'static str)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A reply with a `Content-Type` and a body.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: vec![("content-type", content_type)],
            body: body.into(),
        }
    }

    /// A JSON reply.
    pub fn json(status: u16, body: &str) -> Self {
        Reply::new(status, "application/json", body)
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// A running fake handler.
pub struct FakeHandler {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Everything it received, in order.
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeHandler {
    /// A copy of the requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// Starts a fake handler answering every request with `reply`.
pub async fn spawn_handler(reply: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeHandler {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let state: (Responder, Arc<Mutex<Vec<Recorded>>>) = (Arc::new(reply), requests.clone());
    let app = Router::new().fallback(record).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    FakeHandler { base_url, requests }
}

/// Records the request and answers with the responder's reply.
async fn record(State((reply, requests)): State<(Responder, Arc<Mutex<Vec<Recorded>>>)>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec();
    let recorded = Recorded {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect(),
        body,
    };
    let answer = reply(&recorded);
    requests.lock().unwrap().push(recorded);
    let mut builder = Response::builder().status(answer.status);
    for (n, v) in answer.headers {
        builder = builder.header(n, v);
    }
    builder.body(Body::from(answer.body)).unwrap()
}

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("functions-host-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A temp app root holding the reference host.json and both function.json files.
pub fn reference_app_root() -> PathBuf {
    let root = temp_dir("app");
    let reference = Path::new(REFERENCE);
    std::fs::copy(reference.join("host.json"), root.join("host.json")).unwrap();
    for function in ["SyncTimer", "SecurityAlertWebhook"] {
        std::fs::create_dir_all(root.join(function)).unwrap();
        std::fs::copy(
            reference.join(function).join("function.json"),
            root.join(function).join("function.json"),
        )
        .unwrap();
    }
    root
}

/// The settings of `local.settings.example.json`.
pub fn settings() -> HashMap<String, String> {
    HashMap::from([("SYNC_SCHEDULE".to_string(), "0 */5 * * * *".to_string())])
}

/// The reference app, loaded (forwarding on).
pub fn reference_app() -> FunctionApp {
    FunctionApp::load(&reference_app_root(), &settings()).unwrap()
}

/// The reference app with `enableForwardingHttpRequest: false`.
pub fn envelope_app() -> FunctionApp {
    let root = reference_app_root();
    let host = std::fs::read_to_string(root.join("host.json")).unwrap();
    let host = host.replace(
        "\"enableForwardingHttpRequest\": true",
        "\"enableForwardingHttpRequest\": false",
    );
    std::fs::write(root.join("host.json"), host).unwrap();
    let app = FunctionApp::load(&root, &settings()).unwrap();
    assert!(!app.forwarding, "fixture edit must turn forwarding off");
    app
}

/// The reference app with `enableProxyingHttpRequest: true` added next to forwarding, as the
/// repository's own host.json has it.
pub fn proxy_app() -> FunctionApp {
    let root = reference_app_root();
    let host = std::fs::read_to_string(root.join("host.json")).unwrap();
    let host = host.replace(
        "\"enableForwardingHttpRequest\": true",
        "\"enableForwardingHttpRequest\": true, \"enableProxyingHttpRequest\": true",
    );
    std::fs::write(root.join("host.json"), host).unwrap();
    let app = FunctionApp::load(&root, &settings()).unwrap();
    assert!(app.proxying && app.forwarding, "fixture edit must turn proxying on");
    app
}

/// Reads a reference JSON file.
pub fn reference_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(Path::new(REFERENCE).join(name)).unwrap()).unwrap()
}

/// The function key the tests configure.
pub const KEY: &str = "test-function-key";
