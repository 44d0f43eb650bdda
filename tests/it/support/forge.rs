//! A forge's commit status API on loopback: records every request (path,
//! headers, JSON body) and answers from a script, then 201.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The request path (percent-encoding kept).
    pub path: String,
    /// Headers, names lower-case.
    pub headers: BTreeMap<String, String>,
    /// The JSON body (`null` if it was not JSON).
    pub body: Value,
    /// What the stand-in answered.
    pub answered: u16,
}

/// An answer: a status and headers.
pub type Answer = (u16, Vec<(&'static str, &'static str)>);

/// The stand-in; stops with the test's runtime.
pub struct ForgeStandIn {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    posted: Arc<Mutex<Vec<Posted>>>,
}

impl ForgeStandIn {
    /// Starts one answering `script` in order, then 201 (or `always`, if given).
    pub async fn start(script: Vec<Answer>, always: Option<Answer>) -> Self {
        let posted = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let record = posted.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let (record, script, always) = (record.clone(), script.clone(), always.clone());
            async move {
                let next = script
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop_front();
                let (status, extra) = next.or(always).unwrap_or((201, Vec::new()));
                record
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Posted {
                        path: uri.path().to_string(),
                        headers: headers
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.as_str().to_string(),
                                    v.to_str().unwrap_or("?").to_string(),
                                )
                            })
                            .collect(),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        answered: status,
                    });
                let status = StatusCode::from_u16(status).expect("status");
                let mut answer = (status, r#"{"message":"stand-in"}"#).into_response();
                for (name, value) in extra {
                    answer
                        .headers_mut()
                        .insert(name, value.parse().expect("header"));
                }
                answer
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listener");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, posted }
    }

    /// Every request so far.
    pub fn posted(&self) -> Vec<Posted> {
        self.posted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The requests it accepted (2xx), in order.
    pub fn accepted(&self) -> Vec<Posted> {
        self.posted()
            .into_iter()
            .filter(|p| (200..300).contains(&p.answered))
            .collect()
    }
}
