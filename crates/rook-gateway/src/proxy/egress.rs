//! The egress policy at connect time.
//!
//! Base URLs are checked when they are configured (config file, admin API),
//! but a name may resolve to a different address later (DNS rebinding), and
//! accounts stored under an older policy may reach the gateway. So the
//! upstream connector checks again, every time it dials:
//!
//! - [`EgressConnector`] checks the URI's host ([`EgressPolicy::check_host`]:
//!   an IP literal as an address — hyper-util dials those without resolving —
//!   a name for metadata and numeric names);
//! - [`EgressResolver`] wraps the system resolver and drops every resolved
//!   address the policy denies ([`EgressPolicy::check_resolved`]); when none
//!   is left, the connect fails.
//!
//! A refusal is an [`EgressDenied`] error inside the client's error; the
//! attempt loop finds it ([`denied_in`]) and answers 502 `egress_denied`,
//! counting it as a transport failure of the account (the account cools like
//! an unreachable one, and comes back by itself when DNS or the policy
//! changes). Redirects are never followed (the client has no redirect layer),
//! so a 3xx cannot lead past the policy either.

use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rook_config::egress::{EgressDenied, EgressPolicy};
use tokio::net::TcpStream;
use tower_service::Service;

type BoxError = Box<dyn StdError + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// The system resolver, keeping only the addresses the policy allows.
#[derive(Clone, Debug)]
pub(crate) struct EgressResolver {
    inner: GaiResolver,
    policy: Option<Arc<EgressPolicy>>,
}

impl Service<Name> for EgressResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        let resolving = self.inner.call(name);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = resolving.await?.collect();
            match &policy {
                Some(p) => filter(p, &host, addrs).map(Vec::into_iter),
                None => Ok(addrs.into_iter()),
            }
        })
    }
}

/// The addresses of `host` the policy allows; the first refusal when none is.
fn filter(
    policy: &EgressPolicy,
    host: &str,
    addrs: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, BoxError> {
    let mut denied: Option<EgressDenied> = None;
    let kept: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match policy.check_resolved(host, a.ip()) {
            Ok(()) => true,
            Err(e) => {
                denied.get_or_insert(EgressDenied {
                    target: format!("{host} ({})", e.target),
                    reason: e.reason,
                });
                false
            }
        })
        .collect();
    match (kept.is_empty(), denied) {
        (true, Some(d)) => Err(Box::new(d)),
        _ => Ok(kept),
    }
}

/// hyper-util's HTTP connector over `EgressResolver`, checking the URI's
/// host first.
#[derive(Clone, Debug)]
pub struct EgressConnector {
    inner: HttpConnector<EgressResolver>,
    policy: Option<Arc<EgressPolicy>>,
}

impl EgressConnector {
    /// A connector with Rook's TCP settings; `policy` `None` dials anything
    /// (the CLI's calls to its own server).
    pub fn new(connect_timeout: Duration, policy: Option<Arc<EgressPolicy>>) -> Self {
        let mut http = HttpConnector::new_with_resolver(EgressResolver {
            inner: GaiResolver::new(),
            policy: policy.clone(),
        });
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_keepalive(Some(Duration::from_secs(60)));
        EgressConnector {
            inner: http,
            policy,
        }
    }
}

impl Service<Uri> for EgressConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        if let (Some(policy), Some(host)) = (&self.policy, uri.host()) {
            if let Err(e) = policy.check_host(host) {
                return Box::pin(async move { Err(Box::new(e) as BoxError) });
            }
        }
        let connecting = self.inner.call(uri);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}

/// The egress refusal somewhere in an error's chain of sources, if any.
pub fn denied_in<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a EgressDenied> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(d) = err.downcast_ref::<EgressDenied>() {
            return Some(d);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rook_config::egress::DenyReason;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn resolved_addresses_are_filtered() {
        let locked = EgressPolicy::new(&[], true).unwrap();
        let mixed = vec![addr("127.0.0.1:80"), addr("93.184.215.14:80")];
        assert_eq!(
            filter(&locked, "mixed.example", mixed).unwrap(),
            vec![addr("93.184.215.14:80")]
        );
        let err = filter(
            &locked,
            "localhost",
            vec![addr("127.0.0.1:80"), addr("[::1]:80")],
        )
        .unwrap_err();
        let d = denied_in(err.as_ref()).unwrap();
        assert_eq!(d.reason, DenyReason::Private);
        assert!(
            d.target.starts_with("localhost (127.0.0.1)"),
            "{}",
            d.target
        );
        let default = EgressPolicy::new(&[], false).unwrap();
        assert!(filter(&default, "localhost", vec![addr("127.0.0.1:80")]).is_ok());
        let e = filter(&default, "rebind.example", vec![addr("169.254.169.254:80")]).unwrap_err();
        assert_eq!(denied_in(e.as_ref()).unwrap().reason, DenyReason::Metadata);
        let allowed = EgressPolicy::new(&["localhost".into()], true).unwrap();
        assert!(filter(&allowed, "localhost", vec![addr("127.0.0.1:80")]).is_ok());
    }

    #[tokio::test]
    async fn the_connector_refuses_literal_and_resolved_addresses() {
        let policy = Arc::new(EgressPolicy::new(&[], true).unwrap());
        let mut c = EgressConnector::new(Duration::from_secs(1), Some(policy));
        for uri in [
            "http://169.254.169.254/v1",
            "http://127.0.0.1:9/v1",
            "http://metadata.google.internal/v1",
            "http://localhost:9/v1",
        ] {
            let e = c.call(uri.parse().unwrap()).await.unwrap_err();
            assert!(denied_in(e.as_ref()).is_some(), "{uri}: {e}");
        }
        // Without a policy, a refused port is an ordinary connect error.
        let mut open = EgressConnector::new(Duration::from_secs(1), None);
        let e = open
            .call("http://127.0.0.1:9/v1".parse().unwrap())
            .await
            .unwrap_err();
        assert!(denied_in(e.as_ref()).is_none());
    }
}
