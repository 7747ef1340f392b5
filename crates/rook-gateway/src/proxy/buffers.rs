//! Bounded memory for buffered upstream answers.
//!
//! A buffered (non-streamed) answer is read whole before it is checked,
//! translated and relayed, so its size is memory Rook holds. Two limits bound
//! it:
//!
//! - each answer: at most `[limits] max_upstream_response_bytes` (a larger
//!   `content-length` is refused before reading; a chunked body is counted as
//!   it arrives and refused the moment it passes the limit);
//! - all answers together: a byte budget (`[limits]
//!   buffered_response_budget_bytes`), a semaphore whose permits are bytes.
//!   Each chunk reserves its size as it arrives; the reservation ([`Hold`])
//!   lives until the answer has been handed to the client's connection
//!   ([`HeldBody`] gives it out in 64 KiB frames, and hyper asks for the next
//!   frame only when its write buffer has room), then frees itself. When the
//!   budget has no room within [`BUDGET_WAIT`], the answer is abandoned.
//!
//! Memory held by buffered answers is so at most the budget, plus, per answer
//! being finished, one transient copy while chunks are joined and the answer
//! is translated (up to twice the budget in the worst case).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long an answer's next chunk may wait for room in the budget.
pub(crate) const BUDGET_WAIT: Duration = Duration::from_secs(1);

/// Size of the frames a held answer is given to the connection in.
const FRAME: usize = 64 * 1024;

/// The limits on buffered answers. See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct BufferBudget {
    sem: Arc<Semaphore>,
    per_answer: usize,
    wait: Duration,
}

/// Why a buffered answer could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Larger than the per-answer limit.
    TooLarge,
    /// The budget had no room in time.
    Budget,
    /// The body failed (connection closed, reset).
    Body,
}

/// Bytes of the budget reserved by one answer; freed on drop.
#[derive(Debug, Default)]
pub(crate) struct Hold {
    permit: Option<OwnedSemaphorePermit>,
}

impl Hold {
    /// Bytes reserved.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.permit.as_ref().map_or(0, |p| p.num_permits())
    }

    fn add(&mut self, p: OwnedSemaphorePermit) {
        match &mut self.permit {
            Some(held) => held.merge(p),
            None => self.permit = Some(p),
        }
    }
}

impl BufferBudget {
    /// At most `per_answer` bytes per answer and `total` bytes across answers
    /// (both clamped to what the semaphore can count).
    pub(crate) fn new(per_answer: u64, total: u64) -> Self {
        let total = usize::try_from(total)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        let per_answer = usize::try_from(per_answer).unwrap_or(usize::MAX).min(total);
        BufferBudget {
            sem: Arc::new(Semaphore::new(total)),
            per_answer,
            wait: BUDGET_WAIT,
        }
    }

    /// The same limits with another wait for room.
    #[cfg(test)]
    fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Bytes of the budget free now.
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.sem.available_permits()
    }

    /// The per-answer limit.
    pub(crate) fn per_answer(&self) -> usize {
        self.per_answer
    }

    /// Reads `body` whole within the limits; `content_length` (the upstream's
    /// header) lets a too-large answer be refused before it is read.
    pub(crate) async fn read<B>(
        &self,
        body: B,
        content_length: Option<u64>,
    ) -> Result<(Bytes, Hold), ReadError>
    where
        B: Body<Data = Bytes> + Unpin,
    {
        if content_length.is_some_and(|n| n > self.per_answer as u64) {
            return Err(ReadError::TooLarge);
        }
        let mut body = body;
        let mut hold = Hold::default();
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| ReadError::Body)?.into_data() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            total = total.saturating_add(data.len());
            if total > self.per_answer {
                return Err(ReadError::TooLarge);
            }
            hold.add(self.reserve(data.len()).await?);
            chunks.push(data);
        }
        Ok((join(chunks, total), hold))
    }

    /// Reserves `n` bytes (at most the per-answer limit, so it fits a `u32`
    /// whenever the limit does; larger chunks are reserved in parts).
    async fn reserve(&self, n: usize) -> Result<OwnedSemaphorePermit, ReadError> {
        let mut got: Option<OwnedSemaphorePermit> = None;
        let mut left = n;
        while left > 0 {
            let part = left.min(u32::MAX as usize);
            // part <= u32::MAX by construction.
            let want = u32::try_from(part).unwrap_or(u32::MAX);
            let p = match self.sem.clone().try_acquire_many_owned(want) {
                Ok(p) => p,
                Err(_) => {
                    match tokio::time::timeout(self.wait, self.sem.clone().acquire_many_owned(want))
                        .await
                    {
                        Ok(Ok(p)) => p,
                        _ => return Err(ReadError::Budget),
                    }
                }
            };
            match &mut got {
                Some(g) => g.merge(p),
                None => got = Some(p),
            }
            left -= part;
        }
        got.ok_or(ReadError::Budget)
    }
}

/// The chunks as one buffer (no copy for a single chunk).
fn join(mut chunks: Vec<Bytes>, total: usize) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut out = BytesMut::with_capacity(total);
    for c in chunks {
        out.extend_from_slice(&c);
    }
    out.freeze()
}

/// A buffered answer given to the connection in 64 KiB frames, holding its
/// share of the budget until the last frame is taken.
#[derive(Debug)]
pub(crate) struct HeldBody {
    rest: Bytes,
    hold: Option<Hold>,
}

impl HeldBody {
    pub(crate) fn new(bytes: Bytes, hold: Hold) -> Self {
        HeldBody {
            rest: bytes,
            hold: Some(hold),
        }
    }

    /// The bytes not yet given out (all of them before the first frame).
    pub(crate) fn remaining(&self) -> &Bytes {
        &self.rest
    }
}

impl Body for HeldBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            this.hold = None;
            return Poll::Ready(None);
        }
        let frame = this.rest.split_to(this.rest.len().min(FRAME));
        if this.rest.is_empty() {
            // The last frame is with the connection: the answer is handed over.
            this.hold = None;
        }
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of `chunks` (sizes), optionally failing after them.
    struct Chunks {
        left: std::vec::IntoIter<usize>,
        fail: bool,
    }

    fn body_of(chunks: Vec<usize>) -> Chunks {
        Chunks {
            left: chunks.into_iter(),
            fail: false,
        }
    }

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            match self.left.next() {
                Some(n) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; n]))))),
                None if self.fail => {
                    self.fail = false;
                    Poll::Ready(Some(Err(std::io::Error::other("reset"))))
                }
                None => Poll::Ready(None),
            }
        }
    }

    #[tokio::test]
    async fn answers_within_the_limits_are_read_and_held_until_handed_over() {
        let b = BufferBudget::new(100, 150);
        let (bytes, hold) = b.read(body_of(vec![40, 0, 40]), None).await.unwrap();
        assert_eq!(bytes.len(), 80);
        assert_eq!(hold.bytes(), 80);
        assert_eq!(b.available(), 70);
        let mut held = HeldBody::new(bytes, hold);
        assert_eq!(held.size_hint().exact(), Some(80));
        let mut n = 0;
        while let Some(f) = held.frame().await {
            n += f.unwrap().into_data().unwrap().len();
        }
        assert_eq!(n, 80);
        assert_eq!(b.available(), 150);
        // A single chunk is not copied.
        let (one, _hold) = b.read(body_of(vec![10]), Some(10)).await.unwrap();
        assert_eq!(one.len(), 10);
    }

    #[tokio::test]
    async fn the_per_answer_limit_is_exact() {
        let b = BufferBudget::new(100, 1000);
        assert!(b.read(body_of(vec![50, 50]), None).await.is_ok());
        assert!(matches!(
            b.read(body_of(vec![50, 51]), None).await,
            Err(ReadError::TooLarge)
        ));
        // Refused from the header alone, before any byte is read.
        assert!(matches!(
            b.read(body_of(vec![]), Some(101)).await,
            Err(ReadError::TooLarge)
        ));
        assert!(b.read(body_of(vec![100]), Some(100)).await.is_ok());
        // Nothing stays reserved after a refusal.
        assert_eq!(b.available(), 1000);
        assert_eq!(b.per_answer(), 100);
    }

    #[tokio::test]
    async fn a_full_budget_refuses_after_the_wait_and_frees_what_it_took() {
        let wait = Duration::from_millis(200);
        let b = BufferBudget::new(100, 150).with_wait(wait);
        let (_bytes, hold) = b.read(body_of(vec![100]), None).await.unwrap();
        assert_eq!(b.available(), 50);
        let start = tokio::time::Instant::now();
        assert!(matches!(
            b.read(body_of(vec![30, 30]), None).await,
            Err(ReadError::Budget)
        ));
        assert!(start.elapsed() >= wait);
        assert_eq!(b.available(), 50);
        // Room that frees up during the wait is taken.
        let b2 = b.clone();
        let waiter = tokio::spawn(async move { b2.read(body_of(vec![80]), None).await.is_ok() });
        tokio::time::sleep(wait / 4).await;
        drop(hold);
        assert!(waiter.await.unwrap());
        assert_eq!(b.available(), 150);
    }

    #[tokio::test]
    async fn a_broken_body_is_a_body_error() {
        let b = BufferBudget::new(100, 150);
        let broken = Chunks {
            left: vec![10].into_iter(),
            fail: true,
        };
        assert!(matches!(b.read(broken, None).await, Err(ReadError::Body)));
        assert_eq!(b.available(), 150);
    }

    #[tokio::test]
    async fn held_bodies_go_out_in_frames_and_release_at_the_last() {
        let b = BufferBudget::new(1 << 20, 1 << 20);
        let (bytes, hold) = b.read(body_of(vec![FRAME * 2 + 5]), None).await.unwrap();
        let mut held = HeldBody::new(bytes, hold);
        let total = 1 << 20;
        assert_eq!(futures_next(&mut held), FRAME);
        assert_eq!(b.available(), total - (FRAME * 2 + 5));
        assert_eq!(futures_next(&mut held), FRAME);
        assert_eq!(b.available(), total - (FRAME * 2 + 5));
        assert_eq!(futures_next(&mut held), 5);
        assert_eq!(b.available(), total);
        assert!(held.is_end_stream());
    }

    /// Polls one frame of a body that is always ready.
    fn futures_next(b: &mut HeldBody) -> usize {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        match Pin::new(b).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(f))) => f.into_data().map(|d| d.len()).unwrap_or(0),
            _ => 0,
        }
    }
}
