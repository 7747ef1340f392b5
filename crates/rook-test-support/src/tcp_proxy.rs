//! A TCP proxy for outage tests: forwards a local port to a target (e.g. PostgreSQL on
//! `127.0.0.1:5432`) and can cut the path on demand, without touching the target.
//!
//! Modes ([`Mode`]):
//! - [`Mode::Open`]: connections are forwarded.
//! - [`Mode::Refuse`]: every open connection is closed and the listening socket is
//!   closed too, so new connections are refused (`ECONNREFUSED`), like a stopped server.
//! - [`Mode::Blackhole`]: open connections stay open but no byte moves either way, and
//!   new connections are accepted and never answered, like a network partition (the
//!   nastier case: nothing fails, everything waits).
//!
//! Back to [`Mode::Open`]: the listener is bound again on the same port (refuse), held
//! connections are closed and forwarding resumes on the others (blackhole).
//!
//! ```no_run
//! # async fn demo() -> Result<(), rook_test_support::Error> {
//! use rook_test_support::tcp_proxy::{Mode, TcpProxy};
//! let proxy = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await?;
//! let url = format!("postgres://postgres@{}/test", proxy.addr());
//! proxy.set(Mode::Refuse);   // the database "goes away"
//! proxy.set(Mode::Open);     // and comes back
//! # let _ = url; Ok(()) }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::error::{Error, ErrorKind};

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward.
    Open,
    /// Close every connection and refuse new ones.
    Refuse,
    /// Keep connections open but move no byte; accept new ones and never answer.
    Blackhole,
}

/// A running proxy; stops (closing everything) when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on `127.0.0.1:0` and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Result<TcpProxy, Error> {
        let io = |e: std::io::Error| Error::from_source(ErrorKind::Io, "tcp proxy", &e);
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(io)?;
        let addr = listener.local_addr().map_err(io)?;
        let (mode, rx) = watch::channel(Mode::Open);
        let task = tokio::spawn(accept_loop(listener, addr, target, rx));
        Ok(TcpProxy { addr, mode, task })
    }

    /// The address to connect to instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the mode (takes effect at once for open connections).
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.set(Mode::Refuse);
        self.task.abort();
    }
}

async fn accept_loop(
    mut listener: TcpListener,
    addr: SocketAddr,
    target: SocketAddr,
    mut mode: watch::Receiver<Mode>,
) {
    loop {
        let current = *mode.borrow_and_update();
        if current == Mode::Refuse {
            drop(listener);
            if wait_until(&mut mode, |m| m != Mode::Refuse).await.is_none() {
                return;
            }
            listener = match rebind(addr).await {
                Some(l) => l,
                None => return,
            };
            continue;
        }
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                let rx = mode.clone();
                if current == Mode::Blackhole {
                    tokio::spawn(hold(client, rx));
                } else {
                    tokio::spawn(connect_and_forward(client, target, rx));
                }
            }
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Binds `addr` again (its port was ours a moment ago; retried briefly).
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..50 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Waits until the mode satisfies `f`; `None` when the proxy is gone.
async fn wait_until(mode: &mut watch::Receiver<Mode>, f: impl Fn(Mode) -> bool) -> Option<Mode> {
    loop {
        let m = *mode.borrow_and_update();
        if f(m) {
            return Some(m);
        }
        mode.changed().await.ok()?;
    }
}

/// A connection accepted during a blackhole: never answered, closed when it ends.
async fn hold(client: TcpStream, mut mode: watch::Receiver<Mode>) {
    let _ = wait_until(&mut mode, |m| m != Mode::Blackhole).await;
    drop(client);
}

async fn connect_and_forward(client: TcpStream, target: SocketAddr, mode: watch::Receiver<Mode>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // Either direction ending (EOF, error, Refuse) closes both.
    tokio::select! {
        _ = pump(cr, sw, mode.clone()) => {}
        _ = pump(sr, cw, mode) => {}
    }
}

/// Copies one direction, pausing while blackholed and stopping on refuse.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            gone = wait_until(&mut mode, |m| m == Mode::Refuse) => {
                let _ = gone;
                return;
            }
        };
        // Blackholed: hold the bytes until open again (or refuse).
        match wait_until(&mut mode, |m| m != Mode::Blackhole).await {
            Some(Mode::Open) => {}
            _ => return,
        }
        let Some(chunk) = buf.get(..n) else { return };
        if to.write_all(chunk).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut buf = vec![0u8; msg.len()];
        s.read_exact(&mut buf).await?;
        Ok(buf)
    }

    #[tokio::test]
    async fn forwards_refuses_blackholes_and_recovers() {
        let proxy = TcpProxy::start(echo_server().await).await.unwrap();
        let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut a, b"hello").await.unwrap(), b"hello");

        // Blackhole: the open connection stays open and says nothing.
        proxy.set(Mode::Blackhole);
        let silent = tokio::time::timeout(Duration::from_millis(300), round_trip(&mut a, b"x"));
        assert!(silent.await.is_err(), "no byte moves while blackholed");
        let mut held = TcpStream::connect(proxy.addr()).await.unwrap();
        let silent = tokio::time::timeout(Duration::from_millis(300), round_trip(&mut held, b"y"));
        assert!(silent.await.is_err());

        // Open again: the held byte arrives.
        proxy.set(Mode::Open);
        let mut one = [0u8; 1];
        tokio::time::timeout(Duration::from_secs(2), a.read_exact(&mut one))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&one, b"x");

        // Refuse: the connection closes, new ones are refused.
        proxy.set(Mode::Refuse);
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(2), a.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the open connection is closed");
        let mut refused = false;
        for _ in 0..20 {
            if TcpStream::connect(proxy.addr()).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(refused, "new connections are refused");

        // Back: the same address works again.
        proxy.set(Mode::Open);
        let mut ok = None;
        for _ in 0..40 {
            if let Ok(s) = TcpStream::connect(proxy.addr()).await {
                ok = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut b = ok.expect("listening again");
        assert_eq!(round_trip(&mut b, b"again").await.unwrap(), b"again");
        assert_eq!(proxy.mode(), Mode::Open);
    }
}
