//! What a lane does per ticket: send one target's request, or run a flow's steps in order.

use std::sync::Arc;

use crate::client::RequestTemplate;
use crate::targets::{Capture, FlowRole, Target};

/// One scheduled target's work, shared by its lanes.
#[derive(Debug)]
pub(crate) struct Job {
    /// The endpoint of whole instances (a flow's entry); `None` for a single request.
    pub whole: Option<usize>,
    /// The requests of one instance, in order (one for a target of its own).
    pub steps: Vec<Step>,
    /// Connections a lane keeps: one per distinct route among the steps.
    pub connections: usize,
    /// Captured-value slots an instance fills.
    pub captures: usize,
}

/// One request of a job.
#[derive(Debug)]
pub(crate) struct Step {
    /// The endpoint it records into.
    pub endpoint: usize,
    /// The prepared request.
    pub template: Arc<RequestTemplate>,
    /// Which of the lane's connections it uses.
    pub connection: usize,
    /// What it takes from its response.
    pub captures: Vec<Capture>,
}

impl Job {
    /// The job of every scheduled target, indexed like `targets` (`None` for flow steps,
    /// which run inside their flow's job); `templates` is indexed like `targets` too.
    pub fn for_targets(
        targets: &[Target],
        templates: &[Arc<RequestTemplate>],
    ) -> Vec<Option<Arc<Job>>> {
        targets
            .iter()
            .enumerate()
            .map(|(index, target)| match &target.flow {
                None => Some(Arc::new(Job {
                    whole: None,
                    steps: vec![step(index, templates, &[], &mut Vec::new())],
                    connections: 1,
                    captures: 0,
                })),
                Some(FlowRole::Step { .. }) => None,
                Some(FlowRole::Whole { steps, captures }) => {
                    let mut routes = Vec::new();
                    let steps = steps
                        .iter()
                        .map(|&i| {
                            let captures = match &targets[i].flow {
                                Some(FlowRole::Step { captures, .. }) => captures.as_slice(),
                                _ => &[],
                            };
                            step(i, templates, captures, &mut routes)
                        })
                        .collect();
                    Some(Arc::new(Job {
                        whole: Some(index),
                        steps,
                        connections: routes.len(),
                        captures: captures.len(),
                    }))
                }
            })
            .collect()
    }
}

/// A step on the first connection of `routes` its template can share, or on a new one.
fn step(
    endpoint: usize,
    templates: &[Arc<RequestTemplate>],
    captures: &[Capture],
    routes: &mut Vec<Arc<RequestTemplate>>,
) -> Step {
    let template = Arc::clone(&templates[endpoint]);
    let connection = match routes
        .iter()
        .position(|r| r.shares_connection_with(&template))
    {
        Some(shared) => shared,
        None => {
            routes.push(Arc::clone(&template));
            routes.len() - 1
        }
    };
    Step {
        endpoint,
        template,
        connection,
        captures: captures.to_vec(),
    }
}

/// The value `from` finds in a kept response: a JSON string as itself, other JSON values
/// as their JSON text, a header's value. `None` when it is absent, null, empty (a later
/// `/items/{{id}}` would become `/items/`, another route), or holds control characters
/// (which no later request could carry).
pub(crate) fn captured_value(
    from: &crate::targets::CaptureSource,
    kept: &crate::client::Kept,
) -> Option<String> {
    use crate::targets::CaptureSource;
    let value = match from {
        // UTF-8, not only visible ASCII: a header may carry a name like "José".
        CaptureSource::Header(name) => std::str::from_utf8(kept.headers.get(name)?.as_bytes())
            .ok()?
            .to_owned(),
        CaptureSource::Body(pointer) => {
            let body: serde_json::Value =
                serde_json::from_slice(kept.body.as_deref().ok()?).ok()?;
            match body.pointer(pointer)? {
                serde_json::Value::Null => return None,
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            }
        }
    };
    (!value.is_empty() && !value.chars().any(char::is_control)).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Kept;
    use crate::targets::CaptureSource;

    fn kept(body: &str) -> Kept {
        let mut headers = http::HeaderMap::new();
        headers.insert("etag", http::HeaderValue::from_static("\"v1\""));
        Kept {
            headers,
            body: Ok(bytes::Bytes::from(body.to_owned())),
        }
    }

    #[test]
    fn captures_strings_numbers_and_headers_and_nothing_else() {
        let body = kept(
            r#"{"id":"abc","n":7,"nested":{"list":[1,{"x":true}]},"none":null,"bad":"a\nb","empty":""}"#,
        );
        let pointer = |p: &str| CaptureSource::Body(p.to_owned());
        assert_eq!(
            captured_value(&pointer("/id"), &body).as_deref(),
            Some("abc")
        );
        assert_eq!(captured_value(&pointer("/n"), &body).as_deref(), Some("7"));
        assert_eq!(
            captured_value(&pointer("/nested/list/1"), &body).as_deref(),
            Some(r#"{"x":true}"#)
        );
        assert_eq!(captured_value(&pointer("/none"), &body), None);
        assert_eq!(captured_value(&pointer("/missing"), &body), None);
        assert_eq!(captured_value(&pointer("/bad"), &body), None);
        assert_eq!(captured_value(&pointer("/empty"), &body), None);
        let etag = CaptureSource::Header(http::HeaderName::from_static("etag"));
        assert_eq!(captured_value(&etag, &body).as_deref(), Some("\"v1\""));
        assert_eq!(captured_value(&pointer("/id"), &kept("not json")), None);
        let cut = Kept {
            body: Err("is over 8 MiB"),
            ..kept("")
        };
        assert_eq!(captured_value(&pointer("/id"), &cut), None);
    }
}
