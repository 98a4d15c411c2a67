//! Incident comments: PUT by client-chosen id (same id replaces, so retries do not duplicate),
//! GET one, and a paged list. Limits from the Sentinel docs: 100 comments per incident, 30,000
//! characters per comment. Adding or changing a comment gives the incident a new etag, as the real
//! service does (automations that add comments cause 409s for other writers:
//! briandelmsft/SentinelAutomationModules issue 211).

use axum::response::Response;
use serde_json::{Value, json};

use crate::incidents::incident_id;
use crate::sentinel::{bad_request, incident_not_found, page};
use crate::server::{Inner, Req, error_response, json_response};
use crate::state::Comment;
use crate::timefmt;

/// Most comments one incident can hold.
const MAX_COMMENTS: usize = 100;
/// Longest comment, in characters.
const MAX_MESSAGE_CHARS: usize = 30_000;

/// The REST representation of a comment (author = the simulated managed identity).
fn render(sim: &Inner, incident: &str, c: &Comment) -> Value {
    json!({
        "name": c.id,
        "type": "Microsoft.SecurityInsights/incidents/comments",
        "etag": c.etag,
        "id": format!("{}/Comments/{}", incident_id(sim, incident), c.id),
        "properties": {
            "author": {
                "name": "dfc-sentinel-sync",
                "email": null,
                "objectId": sim.client_id,
                "userPrincipalName": null,
            },
            "createdTimeUtc": timefmt::format(c.created),
            "lastModifiedTimeUtc": timefmt::format(c.last_modified),
            "message": c.message,
        }
    })
}

/// `PUT …/incidents/{id}/comments/{commentId}`.
pub(crate) fn put(sim: &Inner, incident: &str, comment_id: &str, body: &[u8]) -> Response {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = match parsed.pointer("/properties/message").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => return bad_request("'message' is required and must not be empty."),
    };
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return bad_request(&format!("'message' must not exceed {MAX_MESSAGE_CHARS} characters."));
    }
    let mut state = sim.lock();
    let Some(inc) = state.incidents.get_mut(incident) else {
        return incident_not_found(incident);
    };
    let now = timefmt::now();
    inc.etag = crate::state::new_etag();
    let etag = uuid::Uuid::new_v4().to_string();
    let (status, comment) = match inc.comments.iter_mut().find(|c| c.id == comment_id) {
        Some(existing) => {
            existing.message = message;
            existing.last_modified = now;
            existing.etag = etag;
            (200, existing.clone())
        }
        None => {
            if inc.comments.len() >= MAX_COMMENTS {
                return error_response(
                    400,
                    "BadRequest",
                    &format!("Incident '{incident}' has reached the limit of {MAX_COMMENTS} comments."),
                );
            }
            let c = Comment {
                id: comment_id.to_string(),
                message,
                etag,
                created: now,
                last_modified: now,
            };
            inc.comments.push(c.clone());
            (201, c)
        }
    };
    json_response(status, &render(sim, incident, &comment))
}

/// `GET …/incidents/{id}/comments/{commentId}`.
pub(crate) fn get(sim: &Inner, incident: &str, comment_id: &str) -> Response {
    let state = sim.lock();
    let Some(inc) = state.incidents.get(incident) else {
        return incident_not_found(incident);
    };
    match inc.comments.iter().find(|c| c.id == comment_id) {
        Some(c) => json_response(200, &render(sim, incident, c)),
        None => error_response(404, "NotFound", &format!("Comment '{comment_id}' was not found.")),
    }
}

/// `GET …/incidents/{id}/comments`, paged.
pub(crate) fn list(sim: &Inner, req: &Req, incident: &str) -> Response {
    let items: Vec<Value> = {
        let state = sim.lock();
        let Some(inc) = state.incidents.get(incident) else {
            return incident_not_found(incident);
        };
        inc.comments.iter().map(|c| render(sim, incident, c)).collect()
    };
    page(sim, req, items, sim.config.comments_page_size, "")
}
