//! [`FakeUpstream`]: the listener, the shared script and recordings, and the
//! per-request handler.

use super::*;

pub(super) struct Script {
    pub(super) queue: VecDeque<Reply>,
    pub(super) default: Reply,
    pub(super) models: Vec<String>,
}

pub(super) struct Shared {
    pub(super) script: Mutex<Script>,
    pub(super) requests: Mutex<Vec<RecordedRequest>>,
    /// Requests are recorded (off for load tests: the record grows without bound).
    pub(super) record: std::sync::atomic::AtomicBool,
    /// Answers echo the key the request presented (see [`FakeUpstream::set_echo_key`]).
    pub(super) echo_key: std::sync::atomic::AtomicBool,
    pub(super) chat_count: AtomicUsize,
    pub(super) cancelled: AtomicUsize,
    pub(super) seq: AtomicU64,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// FakeUpstream
// ---------------------------------------------------------------------------

/// A scriptable OpenAI-compatible server on `127.0.0.1:<random port>`,
/// running on the current tokio runtime; it shuts down when dropped.
pub struct FakeUpstream {
    pub(super) addr: SocketAddr,
    pub(super) shared: Arc<Shared>,
    pub(super) task: JoinHandle<()>,
}

impl FakeUpstream {
    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Panics
    /// If binding the loopback listener fails, or outside a tokio runtime.
    pub async fn start() -> FakeUpstream {
        match Self::try_start().await {
            Ok(f) => f,
            Err(e) => panic!("FakeUpstream::start: {e}"),
        }
    }

    /// Like [`start`](FakeUpstream::start), returning bind errors.
    pub async fn try_start() -> std::io::Result<FakeUpstream> {
        Self::try_start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on a given address (port 0 picks a free one).
    pub async fn try_start_on(addr: SocketAddr) -> std::io::Result<FakeUpstream> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                queue: VecDeque::new(),
                default: Reply::auto(),
                models: vec![DEFAULT_MODEL.to_owned()],
            }),
            requests: Mutex::new(Vec::new()),
            record: std::sync::atomic::AtomicBool::new(true),
            echo_key: std::sync::atomic::AtomicBool::new(false),
            chat_count: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            seq: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FakeUpstream { addr, shared, task })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`, the OpenAI-style base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT` without the `/v1` suffix.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a reply for the next answered `POST` (chat, messages,
    /// generateContent, embeddings, responses, ...; replies are consumed in
    /// push order, whatever the path).
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.script).queue.push_back(reply);
    }

    /// Queues several replies, in order.
    pub fn push_all(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.shared.script).queue.extend(replies);
    }

    /// Sets the reply used when the queue is empty (initially
    /// [`Reply::auto`]).
    pub fn set_default(&self, reply: Reply) {
        lock(&self.shared.script).default = reply;
    }

    /// Number of queued replies not yet consumed.
    pub fn pending_replies(&self) -> usize {
        lock(&self.shared.script).queue.len()
    }

    /// Sets the model ids listed by `GET /v1/models` (default
    /// `["fake-model"]`).
    pub fn set_models(&self, models: &[&str]) {
        lock(&self.shared.script).models = models.iter().map(|m| (*m).to_owned()).collect();
    }

    /// Every request received so far (all routes), in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The chat completion requests (`…/chat/completions`) received so far.
    pub fn chat_requests(&self) -> Vec<RecordedRequest> {
        self.requests_to("/chat/completions")
    }

    /// The requests whose path ends with `path_end` (e.g. `"/messages"`,
    /// `":generateContent"`, `"/embeddings"`), in arrival order.
    pub fn requests_to(&self, path_end: &str) -> Vec<RecordedRequest> {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.path.ends_with(path_end))
            .cloned()
            .collect()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.shared.requests).last().cloned()
    }

    /// Number of answered `POST` requests received (those that consume a
    /// [`Reply`]: chat completions, messages, count_tokens, generateContent,
    /// embeddings, responses, completions); `GET`s and 404s are not
    /// counted.
    pub fn request_count(&self) -> usize {
        self.shared.chat_count.load(Ordering::SeqCst)
    }

    /// Number of responses abandoned by the peer before they finished
    /// (client disconnected while the reply was delayed, hanging, or its
    /// body was still streaming). Deliberate [`Reply::break_after`] aborts
    /// are not counted.
    pub fn cancelled_count(&self) -> usize {
        self.shared.cancelled.load(Ordering::SeqCst)
    }

    /// Turns key echoing on or off (off by default): every answer then
    /// carries the key the request presented (`Authorization: Bearer`,
    /// `x-api-key`, `x-goog-api-key` or `?key=`) in an [`ECHO_HEADER`]
    /// header, `GET …/models` lists it as `echo_key`, and the template fields
    /// [`ECHO_KEY`], [`ECHO_KEY_HEAD`] and [`ECHO_KEY_TAIL`] in scripted
    /// replies (bodies, messages, stream chunks, raw SSE parts, headers) are
    /// replaced by the key or its halves.
    pub fn set_echo_key(&self, on: bool) {
        self.shared.echo_key.store(on, Ordering::Relaxed);
    }

    /// Stops (or resumes) recording requests; counters keep counting. For load
    /// tests, where the record would grow without bound.
    pub fn set_recording(&self, on: bool) {
        self.shared.record.store(on, Ordering::Relaxed);
    }

    /// Forgets recorded requests and resets the request and cancellation
    /// counters (the script is kept).
    pub fn clear(&self) {
        lock(&self.shared.requests).clear();
        self.shared.chat_count.store(0, Ordering::SeqCst);
        self.shared.cancelled.store(0, Ordering::SeqCst);
    }

    /// Waits (polling every 5 ms) until [`request_count`](Self::request_count)
    /// reaches `n`; returns whether it did within `timeout`.
    pub async fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.request_count() >= n).await
    }

    /// Waits (polling every 5 ms) until
    /// [`cancelled_count`](Self::cancelled_count) reaches `n`; returns whether
    /// it did within `timeout`.
    pub async fn wait_cancelled(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.cancelled_count() >= n).await
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every
        // connection task.
        self.task.abort();
    }
}

impl std::fmt::Debug for FakeUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

pub(super) async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Typically EMFILE under heavy load: back off briefly.
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        let shared = shared.clone();
        conns.spawn(async move {
            let _ = stream.set_nodelay(true);
            let svc = service_fn(move |req| handle(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

// ---------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------

/// Counts a cancellation when dropped while still armed.
pub(super) struct CancelGuard {
    pub(super) shared: Arc<Shared>,
    pub(super) armed: bool,
}

impl CancelGuard {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            armed: true,
        }
    }

    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if self.armed {
            self.shared.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub(super) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<FakeBody>, Infallible> {
    let mut guard = CancelGuard::new(shared.clone());
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            // The client went away while sending the request.
            return Ok(simple(400, error_body(400, "could not read request body")));
        }
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let echo = shared
        .echo_key
        .load(Ordering::Relaxed)
        .then(|| echo::presented_key(&parts.headers, parts.uri.query()));
    let recorded = RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
        received_at: Instant::now(),
    };
    if shared.record.load(Ordering::Relaxed) {
        lock(&shared.requests).push(recorded);
    }

    let response = match (method.as_str(), Endpoint::of(&path)) {
        ("POST", Some(endpoint)) => {
            shared.chat_count.fetch_add(1, Ordering::SeqCst);
            let reply = {
                let mut script = lock(&shared.script);
                match script.queue.pop_front() {
                    Some(r) => r,
                    None => script.default.clone(),
                }
            };
            let reply = match &echo {
                Some(key) => reply.echoing(key),
                None => reply,
            };
            let request_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let seq = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
            if reply.hang {
                // Pending until the connection (and so this future) is dropped.
                std::future::pending::<()>().await;
            }
            if let Some(d) = reply.delay {
                tokio::time::sleep(d).await;
            }
            let ctx = Ctx::new(&shared, &reply, &request_json, seq, &endpoint);
            render(&ctx, &endpoint)
        }
        ("GET", _) if path.ends_with("/models") => {
            let models = lock(&shared.script).models.clone();
            let data: Vec<Value> = models.iter().map(|id| openai::model_json(id)).collect();
            let mut list = json!({"object": "list", "data": data});
            if let Some(key) = &echo {
                list["echo_key"] = json!(key);
            }
            simple(200, list)
        }
        ("GET", _) if path.contains("/models/") && !path.contains(':') => {
            let id = path.rsplit_once("/models/").map_or("", |(_, id)| id);
            let known = lock(&shared.script).models.iter().any(|m| m == id);
            if known {
                simple(200, openai::model_json(id))
            } else {
                simple(
                    404,
                    json!({"error": {
                        "message": format!("The model '{id}' does not exist"),
                        "type": "invalid_request_error",
                        "param": "model",
                        "code": "model_not_found",
                    }}),
                )
            }
        }
        _ => simple(
            404,
            json!({"error": {
                "message": format!("fake upstream: no route for {method} {path}"),
                "type": "invalid_request_error",
                "code": "not_found",
            }}),
        ),
    };
    guard.disarm();
    let mut response = response;
    if let Some(v) = echo.and_then(|k| hyper::header::HeaderValue::from_str(&k).ok()) {
        response.headers_mut().insert(ECHO_HEADER, v);
    }
    Ok(response)
}
