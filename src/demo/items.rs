//! The demo API's in-memory items store: `POST /items`, `GET|PUT|DELETE /items/{id}`, so a
//! CRUD flow runs offline. It counts what it created and deleted, for tests to check that
//! every item a complete flow created was deleted again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Map, Value};

/// A stored item and its version (its ETag).
type Versioned = (Map<String, Value>, u64);

/// Stored items by id.
#[derive(Default)]
pub(super) struct Items {
    stored: Mutex<HashMap<String, Versioned>>,
    created: AtomicU64,
    deleted: AtomicU64,
    next_id: AtomicU64,
}

/// What a request to the store comes to: status, JSON body (if any), ETag (if any).
pub(super) struct Answer {
    pub status: StatusCode,
    pub body: Option<String>,
    pub etag: Option<u64>,
}

impl Answer {
    fn error(status: StatusCode, message: &str) -> Answer {
        Answer {
            status,
            body: Some(serde_json::json!({ "error": message }).to_string()),
            etag: None,
        }
    }

    fn item(status: StatusCode, item: &Map<String, Value>, version: u64) -> Answer {
        Answer {
            status,
            body: Some(Value::Object(item.clone()).to_string()),
            etag: Some(version),
        }
    }
}

impl Items {
    /// Items created so far.
    pub fn created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }

    /// Items deleted so far.
    pub fn deleted(&self) -> u64 {
        self.deleted.load(Ordering::Relaxed)
    }

    /// Items stored now.
    pub fn stored(&self) -> usize {
        self.stored.lock().map_or(0, |s| s.len())
    }

    /// Answers `method` on `/items` (`id` None) or `/items/{id}` with the request `body`;
    /// a PUT with `if_match` (an ETag) succeeds only on that version, as HTTP's
    /// conditional requests do.
    pub fn handle(
        &self,
        method: &Method,
        id: Option<&str>,
        if_match: Option<&str>,
        body: &Bytes,
    ) -> Answer {
        let Ok(mut stored) = self.stored.lock() else {
            return Answer::error(StatusCode::INTERNAL_SERVER_ERROR, "store poisoned");
        };
        match (method, id) {
            (&Method::POST, None) => self.create(&mut stored, body),
            (&Method::GET, None) => Answer {
                status: StatusCode::OK,
                body: Some(serde_json::json!({ "count": stored.len() }).to_string()),
                etag: None,
            },
            (method, Some(id)) => self.on_item(&mut stored, method, id, if_match, body),
            _ => Answer::error(StatusCode::METHOD_NOT_ALLOWED, "use POST or GET"),
        }
    }

    /// `POST /items`: stores the JSON object `body` under its own `id`, or a new one.
    fn create(&self, stored: &mut HashMap<String, Versioned>, body: &Bytes) -> Answer {
        let Some(mut item) = object(body) else {
            return Answer::error(StatusCode::BAD_REQUEST, "send a JSON object");
        };
        let id = match item.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => format!("item-{}", self.next_id.fetch_add(1, Ordering::Relaxed)),
        };
        if stored.contains_key(&id) {
            return Answer::error(StatusCode::CONFLICT, "an item with this id exists");
        }
        item.insert("id".into(), Value::String(id.clone()));
        self.created.fetch_add(1, Ordering::Relaxed);
        let answer = Answer::item(StatusCode::CREATED, &item, 1);
        stored.insert(id, (item, 1));
        answer
    }

    /// `GET|PUT|DELETE /items/{id}`.
    fn on_item(
        &self,
        stored: &mut HashMap<String, Versioned>,
        method: &Method,
        id: &str,
        if_match: Option<&str>,
        body: &Bytes,
    ) -> Answer {
        let Some((item, version)) = stored.get_mut(id) else {
            return Answer::error(StatusCode::NOT_FOUND, "no such item");
        };
        match *method {
            Method::GET => Answer::item(StatusCode::OK, item, *version),
            Method::PUT => replace(item, version, id, if_match, body),
            Method::DELETE => {
                stored.remove(id);
                self.deleted.fetch_add(1, Ordering::Relaxed);
                Answer {
                    status: StatusCode::NO_CONTENT,
                    body: None,
                    etag: None,
                }
            }
            _ => Answer::error(StatusCode::METHOD_NOT_ALLOWED, "use GET, PUT or DELETE"),
        }
    }
}

/// `PUT /items/{id}`: `item` becomes the JSON object `body` (keeping its `id`) and its
/// `version` the next one, unless `if_match` names another version.
fn replace(
    item: &mut Map<String, Value>,
    version: &mut u64,
    id: &str,
    if_match: Option<&str>,
    body: &Bytes,
) -> Answer {
    if if_match.is_some_and(|tag| tag != etag(*version)) {
        return Answer::error(
            StatusCode::PRECONDITION_FAILED,
            "If-Match does not name the current version",
        );
    }
    let Some(mut update) = object(body) else {
        return Answer::error(StatusCode::BAD_REQUEST, "send a JSON object");
    };
    update.insert("id".into(), Value::String(id.to_owned()));
    *item = update;
    *version += 1;
    Answer::item(StatusCode::OK, item, *version)
}

/// The ETag of `version`.
pub(super) fn etag(version: u64) -> String {
    format!("\"v{version}\"")
}

fn object(body: &Bytes) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_read_update_delete() {
        let items = Items::default();
        let created = items.handle(
            &Method::POST,
            None,
            None,
            &Bytes::from(r#"{"id":"a","name":"x"}"#),
        );
        assert_eq!(
            (created.status, created.etag),
            (StatusCode::CREATED, Some(1))
        );
        let again = items.handle(&Method::POST, None, None, &Bytes::from(r#"{"id":"a"}"#));
        assert_eq!(again.status, StatusCode::CONFLICT);
        let read = items.handle(&Method::GET, Some("a"), None, &Bytes::new());
        assert!(read.body.unwrap().contains(r#""name":"x""#));
        let stale = items.handle(&Method::PUT, Some("a"), Some("\"v9\""), &Bytes::from("{}"));
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        let put = items.handle(
            &Method::PUT,
            Some("a"),
            Some("\"v1\""),
            &Bytes::from(r#"{"name":"y"}"#),
        );
        assert_eq!((put.status, put.etag), (StatusCode::OK, Some(2)));
        let gone = items.handle(&Method::DELETE, Some("a"), None, &Bytes::new());
        assert_eq!(gone.status, StatusCode::NO_CONTENT);
        let missing = items.handle(&Method::GET, Some("a"), None, &Bytes::new());
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let generated = items.handle(&Method::POST, None, None, &Bytes::from("{}"));
        assert!(generated.body.unwrap().contains("item-0"));
        assert_eq!(
            (items.created(), items.deleted(), items.stored()),
            (2, 1, 1)
        );
        let junk = items.handle(&Method::POST, None, None, &Bytes::from("[1]"));
        assert_eq!(junk.status, StatusCode::BAD_REQUEST);
    }
}
