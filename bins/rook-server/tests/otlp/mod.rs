//! An in-test OTLP/HTTP trace receiver: a small hyper server on
//! `127.0.0.1:0` that records every POST (headers and body), decodes the
//! bodies as `ExportTraceServiceRequest` with the official generated types, and
//! can be stalled (it answers nothing until released).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// One POST the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Post {
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl Post {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    posts: Mutex<Vec<Post>>,
    /// Statuses (with a `Retry-After`) to answer before the 200s.
    failures: Mutex<std::collections::VecDeque<(u16, &'static str)>>,
    stalled: AtomicBool,
    release: Notify,
}

/// The receiver; stops when dropped.
pub(crate) struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(s.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Receiver { addr, shared, task }
    }

    /// The collector endpoint to configure (`otlp_endpoint`).
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Holds every answer until [`release`](Self::release).
    pub(crate) fn stall(&self) {
        self.shared.stalled.store(true, Ordering::SeqCst);
    }

    pub(crate) fn release(&self) {
        self.shared.stalled.store(false, Ordering::SeqCst);
        self.shared.release.notify_waiters();
    }

    /// Answers the next POST with `status` and `Retry-After: retry_after`.
    pub(crate) fn fail_next(&self, status: u16, retry_after: &'static str) {
        self.shared
            .failures
            .lock()
            .unwrap()
            .push_back((status, retry_after));
    }

    pub(crate) fn posts(&self) -> Vec<Post> {
        self.shared.posts.lock().unwrap().clone()
    }

    /// Every span received, with its resource's attributes.
    pub(crate) fn spans(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for post in self.posts() {
            let req = ExportTraceServiceRequest::decode(post.body.as_ref())
                .expect("an ExportTraceServiceRequest");
            for rs in req.resource_spans {
                let resource: Vec<(String, String)> = rs
                    .resource
                    .map(|r| r.attributes)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|kv| {
                        let v = kv.value.and_then(|v| v.value);
                        (kv.key, text(v.as_ref()).unwrap_or_default())
                    })
                    .collect();
                for ss in rs.scope_spans {
                    for span in ss.spans {
                        out.push(Received {
                            span,
                            resource: resource.clone(),
                        });
                    }
                }
            }
        }
        out
    }
}

/// A received span and its resource.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) span: Span,
    pub(crate) resource: Vec<(String, String)>,
}

impl Received {
    fn value(&self, key: &str) -> Option<Value> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone())
            .and_then(|v| v.value)
    }

    /// A string attribute.
    pub(crate) fn str(&self, key: &str) -> Option<String> {
        text(self.value(key).as_ref())
    }

    /// An integer attribute.
    pub(crate) fn int(&self, key: &str) -> Option<i64> {
        match self.value(key)? {
            Value::IntValue(n) => Some(n),
            _ => None,
        }
    }

    /// A string-list attribute.
    pub(crate) fn list(&self, key: &str) -> Option<Vec<String>> {
        match self.value(key)? {
            Value::ArrayValue(a) => Some(
                a.values
                    .iter()
                    .filter_map(|v| text(v.value.as_ref()))
                    .collect(),
            ),
            _ => None,
        }
    }

    pub(crate) fn resource(&self, key: &str) -> Option<&str> {
        self.resource
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub(crate) fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub(crate) fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::StringValue(s) => Some(s.clone()),
        Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    while shared.stalled.load(Ordering::SeqCst) {
        let notified = shared.release.notified();
        if !shared.stalled.load(Ordering::SeqCst) {
            break;
        }
        notified.await;
    }
    shared.posts.lock().unwrap().push(Post {
        path,
        headers,
        body,
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    if let Some((status, retry_after)) = shared.failures.lock().unwrap().pop_front() {
        *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        resp.headers_mut().insert(
            "retry-after",
            hyper::header::HeaderValue::from_static(retry_after),
        );
        return Ok(resp);
    }
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-protobuf"),
    );
    Ok(resp)
}
