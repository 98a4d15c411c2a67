//! The HTTP envelope path (an HTTP function the host does not forward or proxy): the caller's
//! request becomes `Data.<trigger binding>` of an envelope, and `Outputs.<http output>` (or the
//! return value) of the reply becomes the caller's response; anything the host cannot use gives
//! the caller a 500. Sources: `DefaultHttpWorkerService.ProcessDefaultInvocationRequest`,
//! `HttpRequestExtensions.GetRequestAsJObject`, `HttpBinding`, `RawScriptResult`.

use serde_json::{Map, Value, json};

use crate::app::get_ci;
use crate::invoke::{split_path, sys};
use crate::wire::{base64, parse_query};
use crate::{CallerRequest, CallerResponse, FunctionDef, FunctionsHost, HostError, Outcome};

impl FunctionsHost {
    /// The HTTP envelope (`GetRequestAsJObject` + HTTP trigger binding data) and the mapping of
    /// `Outputs.<http output>` to the caller's response.
    pub(crate) async fn envelope(&self, def: &FunctionDef, req: CallerRequest) -> Result<CallerResponse, HostError> {
        let (path, query) = split_path(&req.path_and_query)?;
        let entries = parse_query(query);
        let body_sent = !req.chunked && !req.body.is_empty();

        // Headers as ASP.NET Core holds them: grouped by name, framing from the actual request.
        let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
        let mut add = |name: &str, value: &str| match grouped.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, values)) => values.push(value.to_string()),
            None => grouped.push((canonical_header(name), vec![value.to_string()])),
        };
        for (name, value) in &req.headers {
            if !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("transfer-encoding") {
                add(name, value);
            }
        }
        if !req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            add("Host", &self.caller_host(&req));
        }
        if req.chunked {
            add("Transfer-Encoding", "chunked");
        } else if body_sent {
            add("Content-Length", &req.body.len().to_string());
        }
        let content_type = grouped
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.join(",").to_ascii_lowercase())
            .unwrap_or_default();

        let scheme = self.public_origin.split_once("://").map_or("http", |(s, _)| s);
        let mut data_req = Map::new();
        data_req.insert(
            "Url".into(),
            json!(format!(
                "{scheme}://{}{}{}",
                self.caller_host(&req),
                path,
                raw_query(query)
            )),
        );
        data_req.insert("Method".into(), json!(req.method.to_ascii_uppercase()));
        data_req.insert(
            "Query".into(),
            entries.iter().map(|(k, v)| (k.clone(), json!(v.join(",")))).collect(),
        );
        data_req.insert(
            "Headers".into(),
            grouped.iter().map(|(k, v)| (k.clone(), json!(v))).collect(),
        );
        data_req.insert("Params".into(), json!({}));
        let keyed = def.auth_level == "function";
        data_req.insert(
            "Identities".into(),
            if keyed { json!([key_identity()]) } else { json!([]) },
        );
        if body_sent {
            // Binary media types arrive as byte[] (base64 in JSON); everything else as a string.
            let binary = content_type.starts_with("application/octet-stream") || content_type.starts_with("multipart/");
            let text = if binary {
                base64(&req.body)
            } else {
                String::from_utf8_lossy(&req.body).into_owned()
            };
            data_req.insert("Body".into(), json!(text));
        }

        let mut metadata = Map::new();
        if body_sent && let Ok(Value::Object(props)) = serde_json::from_slice::<Value>(&req.body) {
            for (k, v) in props {
                match v {
                    Value::Array(_) | Value::Null => {}
                    Value::Object(_) => {
                        metadata.insert(k, v);
                    }
                    scalar => {
                        metadata.insert(k, double_encoded(&dotnet_string(&scalar)));
                    }
                }
            }
        }
        for (k, values) in &entries {
            if !k.eq_ignore_ascii_case("code") {
                metadata.insert(k.clone(), double_encoded(&values.join(",")));
            }
        }
        metadata.insert(
            "Query".into(),
            entries
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.last().cloned().unwrap_or_default())))
                .collect(),
        );
        metadata.insert(
            "Headers".into(),
            grouped.iter().map(|(k, v)| (k.clone(), json!(v.join(",")))).collect(),
        );
        metadata.insert("sys".into(), sys(&def.name));

        let mut data = Map::new();
        data.insert(def.trigger_binding.clone(), Value::Object(data_req));
        let body = json!({ "Data": data, "Metadata": metadata });
        let invocation = match self.post_envelope(&def.name, &body).await {
            Ok(invocation) => invocation,
            Err(HostError::Unreachable { .. }) => return Ok(CallerResponse::from_host(500)),
            Err(e) => return Err(e),
        };
        match invocation.outcome {
            Outcome::Succeeded {
                outputs, return_value, ..
            } => {
                let output = def.http_output.as_deref().unwrap_or("res");
                let res = if output == "$return" {
                    Some(&return_value)
                } else {
                    outputs.as_object().and_then(|o| get_ci(o, output))
                };
                Ok(http_output_response(res).unwrap_or_else(|| CallerResponse::from_host(500)))
            }
            Outcome::Failed { .. } => Ok(CallerResponse::from_host(500)),
            Outcome::WouldHang { reason } => Err(HostError::WouldHang {
                invocation_id: invocation.invocation_id,
                reason,
            }),
        }
    }

}

/// Maps an http output value to the caller's response (`GetHttpOutputBindingResponse`,
/// `HttpBinding`, `RawScriptResult`); `None` when the host cannot parse it (caller gets 500).
fn http_output_response(res: Option<&Value>) -> Option<CallerResponse> {
    let object = match res {
        // No value for the http output: an empty response object is bound.
        None | Some(Value::Null) => {
            let headers = vec![(
                "Content-Type".to_string(),
                "application/json; charset=utf-8".to_string(),
            )];
            return Some(CallerResponse {
                status: 200,
                headers,
                body: b"{}".to_vec(),
            });
        }
        Some(Value::Object(o)) => o.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => o,
            _ => return None,
        },
        Some(_) => return None,
    };
    let status_value = get_ci(&object, "statusCode")
        .filter(|v| !v.is_null())
        .or_else(|| get_ci(&object, "status"));
    let status = match status_value {
        Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
    .filter(|s| (100..=999).contains(s))
    .unwrap_or(200);
    let mut headers: Vec<(String, String)> = match get_ci(&object, "headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(h)) => h.iter().map(|(k, v)| (k.clone(), dotnet_string(v))).collect(),
        Some(_) => return None,
    };
    let (body, default_type) = match get_ci(&object, "body") {
        None | Some(Value::Null) => (Vec::new(), None),
        Some(Value::String(s)) => (s.clone().into_bytes(), Some("text/plain; charset=utf-8")),
        Some(v @ (Value::Object(_) | Value::Array(_))) => {
            let text = serde_json::to_string_pretty(v).expect("JSON values serialize");
            (text.into_bytes(), Some("application/json; charset=utf-8"))
        }
        Some(v) => (dotnet_string(v).into_bytes(), Some("text/plain; charset=utf-8")),
    };
    if let Some(default_type) = default_type
        && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), default_type.into()));
    }
    Some(CallerResponse { status, headers, body })
}

/// The `WebJobsAuthLevel` identity a function key produces (layout approximated, see README).
fn key_identity() -> Value {
    let claim = |kind: &str, value: &str| {
        json!({
            "Issuer": "LOCAL AUTHORITY",
            "OriginalIssuer": "LOCAL AUTHORITY",
            "Properties": {},
            "Type": format!("http://schemas.microsoft.com/2017/07/functions/claims/{kind}"),
            "Value": value,
            "ValueType": "http://www.w3.org/2001/XMLSchema#string"
        })
    };
    json!({
        "AuthenticationType": "WebJobsAuthLevel",
        "IsAuthenticated": true,
        "Actor": null,
        "BootstrapContext": null,
        "Claims": [claim("authlevel", "Function"), claim("invoke", "true"), claim("keyid", "default")],
        "Label": null,
        "Name": null,
        "NameClaimType": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "RoleClaimType": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    })
}

/// A scalar as .NET's `ToString()` writes it (`True`/`False` for booleans).
pub(crate) fn dotnet_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// A string JSON-encoded a second time, as `GetHttpScriptInvocationContextValue` does: `"\"x\""`.
fn double_encoded(s: &str) -> Value {
    Value::String(serde_json::to_string(s).expect("strings serialize"))
}

/// `Request.QueryString` as received: `?` plus the raw query, or nothing.
fn raw_query(query: &str) -> String {
    if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    }
}

/// Kestrel's canonical casing for well-known headers; other names keep the caller's casing.
fn canonical_header(name: &str) -> String {
    const KNOWN: &[&str] = &[
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Authorization",
        "Cache-Control",
        "Connection",
        "Content-Encoding",
        "Content-Length",
        "Content-Type",
        "Cookie",
        "Expect",
        "Host",
        "Origin",
        "Referer",
        "Transfer-Encoding",
        "User-Agent",
    ];
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_string(), |k| k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn http_output_maps_status_body_and_headers() {
        let r = http_output_response(Some(
            &json!({"statusCode": "202", "body": "{\"a\":1}", "headers": {"Content-Type": "application/json"}}),
        ))
        .unwrap();
        assert_eq!(
            (r.status, r.text(), r.header("content-type")),
            (202, "{\"a\":1}".to_string(), Some("application/json"))
        );
        let r = http_output_response(Some(&json!({"Status": 409, "Body": {"a": 1}}))).unwrap();
        assert_eq!((r.status, r.text()), (409, "{\n  \"a\": 1\n}".to_string()));
        let r = http_output_response(Some(&json!("{\"status\":\"nope\"}"))).unwrap();
        assert_eq!((r.status, r.body.len()), (200, 0));
        let r = http_output_response(None).unwrap();
        assert_eq!((r.status, r.text()), (200, "{}".to_string()));
        assert!(http_output_response(Some(&json!(42))).is_none());
        assert!(http_output_response(Some(&json!({"headers": [1]}))).is_none());
    }
}
