//! The body of every response Rook sends: a full buffer, a buffered upstream
//! answer holding its share of the buffer budget ([`HeldBody`]), or a streamed
//! relay of an upstream body ([`RelayBody`]); both owned by the proxy.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::proxy::buffers::HeldBody;
use crate::proxy::relay::RelayBody;

/// The body of every response Rook sends.
#[derive(Debug)]
pub(crate) enum RookBody {
    /// A complete body (possibly empty), sent in one frame.
    Full(Option<Bytes>),
    /// A streamed relay of an upstream body.
    Relay(Box<RelayBody>),
    /// A buffered upstream answer holding its share of the buffer budget.
    Held(HeldBody),
}

impl RookBody {
    /// A complete body.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let b = bytes.into();
        if b.is_empty() {
            RookBody::Full(None)
        } else {
            RookBody::Full(Some(b))
        }
    }
}

impl Body for RookBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            RookBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            RookBody::Relay(r) => Pin::new(r.as_mut()).poll_frame(cx),
            RookBody::Held(h) => Pin::new(h).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RookBody::Full(b) => b.is_none(),
            RookBody::Relay(r) => r.is_end_stream(),
            RookBody::Held(h) => h.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RookBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            RookBody::Full(None) => SizeHint::with_exact(0),
            RookBody::Relay(_) => SizeHint::default(),
            RookBody::Held(h) => h.size_hint(),
        }
    }
}
