//! The response body: chunks on a schedule, deliberate breaks, and counting
//! responses whose peer went away.

use super::*;

#[derive(Debug)]
pub(super) struct DeliberateBreak;

impl std::fmt::Display for DeliberateBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fake upstream: connection broken on purpose (break_after)")
    }
}

impl std::error::Error for DeliberateBreak {}

/// The response body: a list of parts, optionally paced by `chunk_delay`
/// and broken after `break_after` parts. Dropped before the end (peer went
/// away) it counts a cancellation.
pub(super) struct FakeBody {
    pub(super) parts: VecDeque<Bytes>,
    pub(super) chunk_delay: Option<Duration>,
    pub(super) break_after: Option<usize>,
    pub(super) exact_len: Option<u64>,
    pub(super) sent: usize,
    pub(super) sleep: Option<Pin<Box<Sleep>>>,
    pub(super) slept: bool,
    pub(super) finished: bool,
    pub(super) shared: Option<Arc<Shared>>,
}

impl FakeBody {
    pub(super) fn new(
        parts: Vec<Bytes>,
        chunk_delay: Option<Duration>,
        break_after: Option<usize>,
        exact_len: Option<u64>,
        shared: Option<Arc<Shared>>,
    ) -> Self {
        Self {
            parts: parts.into(),
            chunk_delay,
            break_after,
            exact_len,
            sent: 0,
            sleep: None,
            slept: false,
            finished: false,
            shared,
        }
    }
}

impl Body for FakeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
                this.slept = true;
            }
            let breaking = match this.break_after {
                Some(n) => this.sent >= n || this.parts.is_empty(),
                None => false,
            };
            if breaking {
                if !this.slept {
                    // Let hyper flush what was written (head included)
                    // before the abort.
                    this.sleep = Some(Box::pin(tokio::time::sleep(BREAK_FLUSH_DELAY)));
                    continue;
                }
                this.finished = true;
                this.parts.clear();
                return Poll::Ready(Some(Err(Box::new(DeliberateBreak))));
            }
            if this.parts.is_empty() {
                this.finished = true;
                return Poll::Ready(None);
            }
            if this.sent > 0 && !this.slept {
                if let Some(d) = this.chunk_delay {
                    this.sleep = Some(Box::pin(tokio::time::sleep(d)));
                    continue;
                }
            }
            let Some(part) = this.parts.pop_front() else {
                continue;
            };
            this.sent += 1;
            this.slept = false;
            if this.parts.is_empty() && this.break_after.is_none() {
                // hyper may stop polling once a known length is written.
                this.finished = true;
            }
            return Poll::Ready(Some(Ok(Frame::data(part))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_len {
            Some(n) if self.sent == 0 => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

impl Drop for FakeBody {
    fn drop(&mut self) {
        if !self.finished {
            if let Some(shared) = &self.shared {
                shared.cancelled.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}
