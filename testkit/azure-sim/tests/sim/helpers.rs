//! Test helpers: start a simulator, fetch tokens from its identity endpoint, and call its APIs the
//! way the product does.

use azure_sim::{AzureSim, SimConfig};
use serde_json::{Map, Value};

/// ARM resource the product asks tokens for.
pub const ARM: &str = "https://management.azure.com";
/// Log Analytics resource the product asks tokens for.
pub const LA: &str = "https://api.loganalytics.io";
/// API version the product uses.
pub const API: &str = "2025-09-01";

/// A started simulator plus an HTTP client.
pub struct TestEnv {
    /// The simulator.
    pub sim: AzureSim,
    /// HTTP client.
    pub http: reqwest::Client,
}

/// A decoded response.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body text.
    pub text: String,
}

impl Answer {
    /// Body as JSON (panics with the text if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

/// Starts a simulator with default settings.
pub async fn start() -> TestEnv {
    start_with(SimConfig::default()).await
}

/// Starts a simulator with `config`.
pub async fn start_with(config: SimConfig) -> TestEnv {
    let sim = AzureSim::start(config).await.expect("sim starts");
    TestEnv {
        sim,
        http: reqwest::Client::new(),
    }
}

/// Minimal percent-encoding for query-string values.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl TestEnv {
    /// Sends a request and reads the whole answer.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request answered");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body read");
        Answer { status, headers, text }
    }

    /// Raw token request.
    pub async fn token_request(&self, resource: &str, header: Option<&str>, api_version: &str) -> Answer {
        let url = format!(
            "{}?api-version={api_version}&resource={}",
            self.sim.identity_endpoint(),
            encode(resource)
        );
        let mut req = self.http.get(url).header("metadata", "true");
        if let Some(h) = header {
            req = req.header("X-IDENTITY-HEADER", h);
        }
        self.send(req).await
    }

    /// A valid token for `resource`.
    pub async fn token(&self, resource: &str) -> String {
        let a = self
            .token_request(resource, Some(&self.sim.identity_header()), "2019-08-01")
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.json()["access_token"].as_str().unwrap().to_string()
    }

    /// Query URL of the simulated workspace.
    pub fn query_url(&self) -> String {
        format!(
            "{}/v1/workspaces/{}/query",
            self.sim.base_url(),
            self.sim.workspace().workspace_id
        )
    }

    /// Runs the product's query with an LA token.
    pub async fn run_query(&self, days: u32) -> Answer {
        let token = self.token(LA).await;
        self.post_query(&token, &AzureSim::sync_query(days)).await
    }

    /// POSTs a query text.
    pub async fn post_query(&self, token: &str, text: &str) -> Answer {
        let req = self
            .http
            .post(self.query_url())
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "query": text }).to_string());
        self.send(req).await
    }

    /// Rows of the product's query as column-name → value maps.
    pub async fn candidates(&self, days: u32) -> Vec<Map<String, Value>> {
        let a = self.run_query(days).await;
        assert_eq!(a.status, 200, "{}", a.text);
        rows_of(&a.json())
    }

    /// Sentinel prefix P.
    pub fn prefix(&self) -> String {
        format!(
            "{}{}/providers/Microsoft.SecurityInsights",
            self.sim.base_url(),
            self.sim.workspace().resource_id()
        )
    }

    /// URL of an incident (with api-version).
    pub fn incident_url(&self, id: &str) -> String {
        format!("{}/incidents/{id}?api-version={API}", self.prefix())
    }

    /// URL under an incident (with api-version).
    pub fn incident_sub_url(&self, id: &str, rest: &str) -> String {
        format!("{}/incidents/{id}/{rest}?api-version={API}", self.prefix())
    }

    /// GET with an ARM token.
    pub async fn arm_get(&self, url: &str) -> Answer {
        let token = self.token(ARM).await;
        self.send(self.http.get(url).bearer_auth(token)).await
    }

    /// PUT JSON with an ARM token.
    pub async fn arm_put(&self, url: &str, body: &Value) -> Answer {
        let token = self.token(ARM).await;
        let req = self
            .http
            .put(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(req).await
    }

    /// POST without body with an ARM token.
    pub async fn arm_post(&self, url: &str) -> Answer {
        let token = self.token(ARM).await;
        self.send(self.http.post(url).bearer_auth(token)).await
    }
}

/// Turns a v1 query response into column-name → value maps.
pub fn rows_of(body: &Value) -> Vec<Map<String, Value>> {
    let table = &body["tables"][0];
    let names: Vec<String> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            names
                .iter()
                .cloned()
                .zip(row.as_array().unwrap().iter().cloned())
                .collect()
        })
        .collect()
}

/// The PUT body a careful client sends: the GET's etag and writable properties, with changes.
pub fn put_body_from(get: &Value, changes: &[(&str, Value)]) -> Value {
    let mut props = Map::new();
    for key in [
        "title",
        "description",
        "severity",
        "status",
        "owner",
        "labels",
        "firstActivityTimeUtc",
        "lastActivityTimeUtc",
    ] {
        if let Some(v) = get["properties"].get(key) {
            props.insert(key.to_string(), v.clone());
        }
    }
    for (k, v) in changes {
        props.insert(k.to_string(), v.clone());
    }
    serde_json::json!({ "etag": get["etag"], "properties": props })
}
