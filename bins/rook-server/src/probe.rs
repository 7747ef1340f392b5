//! `rook-server --health-check`: asks a running server on this machine whether it is
//! live (`GET /api/health/live`), for container `HEALTHCHECK`s and service monitors
//! on images without curl. Exit 0 when it answers 200, 1 otherwise.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use rook_gateway::rook_config::Config;

/// How long the probe waits for connecting, and then for the answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The address to probe: the bind address, with a wildcard bind (`0.0.0.0`, `::`)
/// replaced by the loopback address of its family.
pub(crate) fn target(config: &Config) -> Option<SocketAddr> {
    let host = config.host.trim();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip = match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Ok(IpAddr::V6(v6)) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        Ok(ip) => ip,
        Err(_) => {
            return config
                .listen_address()
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
        }
    };
    Some(SocketAddr::new(ip, config.port))
}

/// Probes `addr`; `Err` says why it is not live.
pub(crate) fn check(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let host = match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let request = format!(
        "GET /api/health/live HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\n\r\n",
        addr.port()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        match stream.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => return Err(format!("{addr}: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&head[..read]);
    let status = line.split_whitespace().nth(1).unwrap_or("");
    match status {
        "200" => Ok(()),
        "401" => Err(format!(
            "{addr} answered 401: probes need the admin token while \
             [admin_auth] probes_without_auth = false"
        )),
        "" => Err(format!("{addr} closed the connection without an answer")),
        other => Err(format!("{addr} answered {other}")),
    }
}
