//! Where finished subsegments go.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use std::time::SystemTime;

use crate::segment::Subsegment;
use crate::state::TraceState;

/// Receives each subsegment when it ends, or (a sink that [`batches`](Self::batches)) the
/// subsegments of one invocation together when its handler ends. Implement it to export
/// elsewhere; sending must not fail the handler, and must not block it beyond a bound.
pub trait SegmentSink: Send + Sync + std::fmt::Debug {
    /// Exports one finished subsegment.
    fn export(&self, subsegment: &Subsegment);

    /// Whether this sink takes an invocation's subsegments together, at the end of the
    /// invocation ([`export_invocation`](Self::export_invocation)), instead of one by one.
    fn batches(&self) -> bool {
        false
    }

    /// Exports the finished subsegments of one invocation, before the invocation returns (the
    /// execution environment may be frozen afterwards). Called once at the end of the handler,
    /// and again, alone, for a subsegment that ends later. By default, one by one.
    fn export_invocation(&self, spans: &InvocationSpans<'_>) {
        for subsegment in spans.subsegments {
            self.export(subsegment);
        }
    }
}

/// The subsegments of one invocation, with what a batching sink reports about it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct InvocationSpans<'a> {
    /// The finished subsegments, the handler's last.
    pub subsegments: &'a [Subsegment],
    /// The invocation's request id.
    pub request_id: &'a str,
    /// The function's ARN as invoked.
    pub function_arn: &'a str,
    /// The Lambda function segment the handler subsegment hangs under (the trace header's
    /// `Parent`).
    pub parent_id: Option<&'a str>,
    /// When the invocation times out.
    pub deadline: SystemTime,
}

impl<'a> InvocationSpans<'a> {
    pub(crate) fn of(state: &'a TraceState, subsegments: &'a [Subsegment]) -> Self {
        Self {
            subsegments,
            request_id: &state.request_id,
            function_arn: &state.function_arn,
            parent_id: state.parent_id.as_deref(),
            deadline: state.deadline,
        }
    }
}

/// The daemon address from `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or `tcp:h:p udp:h:p` (the
/// UDP one is used). The host is an IP address or a host name (resolved once, here). `None`
/// when it cannot be parsed; a value that is not a host name is never looked up.
pub fn parse_daemon_address(value: &str) -> Option<SocketAddr> {
    let value = value.trim();
    let udp = if value.contains(' ') || value.starts_with("udp:") || value.starts_with("tcp:") {
        value
            .split_whitespace()
            .find_map(|part| part.strip_prefix("udp:"))?
    } else {
        value
    };
    if let Ok(address) = udp.parse::<SocketAddr>() {
        return Some(address);
    }
    let (host, port) = udp.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    if !is_host_name(host) {
        return None;
    }
    (host, port).to_socket_addrs().ok()?.next()
}

/// A DNS host name (RFC 1123): dot-separated labels of ASCII letters, digits and hyphens.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The default daemon address.
pub const DEFAULT_DAEMON_ADDRESS: &str = "127.0.0.1:2000";

/// Sends each subsegment as one UDP datagram to the X-Ray daemon. Never blocks (UDP, a
/// non-blocking socket) and never fails the caller: errors are reported once on stderr.
#[derive(Debug)]
pub struct UdpDaemonSink {
    daemon: SocketAddr,
    /// The socket, and whether it is connected to the daemon.
    socket: OnceLock<Option<(UdpSocket, bool)>>,
    reported: AtomicBool,
}

impl UdpDaemonSink {
    /// A sink sending to `daemon`. The socket is opened on first use, not at INIT.
    pub fn new(daemon: SocketAddr) -> Self {
        Self {
            daemon,
            socket: OnceLock::new(),
            reported: AtomicBool::new(false),
        }
    }

    /// The daemon's address.
    pub fn daemon(&self) -> SocketAddr {
        self.daemon
    }

    fn report(&self, what: &str) {
        if !self.reported.swap(true, Ordering::Relaxed) {
            powertools_core::warn(format_args!(
                "X-Ray subsegment not sent to {}: {what}; further errors are not reported",
                self.daemon
            ));
        }
    }

    /// Sends raw bytes (one datagram).
    pub(crate) fn send(&self, datagram: &[u8]) {
        let socket = self.socket.get_or_init(|| {
            let bind: SocketAddr = if self.daemon.is_ipv4() {
                SocketAddr::from(([0, 0, 0, 0], 0))
            } else {
                SocketAddr::from(([0u16; 8], 0))
            };
            let socket = UdpSocket::bind(bind).ok()?;
            socket.set_nonblocking(true).ok()?;
            // Connected, the kernel looks the route up once rather than at every send.
            let connected = socket.connect(self.daemon).is_ok();
            Some((socket, connected))
        });
        let sent = match socket {
            Some((socket, true)) => socket.send(datagram),
            Some((socket, false)) => socket.send_to(datagram, self.daemon),
            None => {
                self.report("no UDP socket could be opened");
                return;
            }
        };
        if let Err(error) = sent {
            self.report(&error.to_string());
        }
    }
}

impl SegmentSink for UdpDaemonSink {
    fn export(&self, subsegment: &Subsegment) {
        match subsegment.to_datagram() {
            Some(datagram) => self.send(&datagram),
            None => self.report("the document could not be trimmed to one UDP datagram"),
        }
    }
}

/// Keeps subsegments in memory (tests).
#[derive(Debug, Clone, Default)]
pub struct InMemorySink {
    exported: Arc<Mutex<Vec<Subsegment>>>,
}

impl InMemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// What was exported so far.
    pub fn subsegments(&self) -> Vec<Subsegment> {
        self.exported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl SegmentSink for InMemorySink {
    fn export(&self, subsegment: &Subsegment) {
        // A poisoned lock still holds plain data: keep recording.
        self.exported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(subsegment.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_address_forms() {
        assert_eq!(
            parse_daemon_address("127.0.0.1:2000"),
            Some(SocketAddr::from(([127, 0, 0, 1], 2000)))
        );
        assert_eq!(
            parse_daemon_address("tcp:127.0.0.1:2000 udp:127.0.0.2:2001"),
            Some(SocketAddr::from(([127, 0, 0, 2], 2001)))
        );
        assert_eq!(
            parse_daemon_address("udp:127.0.0.3:3000"),
            Some(SocketAddr::from(([127, 0, 0, 3], 3000)))
        );
        assert_eq!(
            parse_daemon_address("localhost:2000").map(|a| a.port()),
            Some(2000)
        );
        assert_eq!(
            parse_daemon_address("[::1]:2000"),
            Some(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 2000)))
        );
        assert_eq!(parse_daemon_address("127.0.0.1:65536"), None);
        assert_eq!(parse_daemon_address("127.0.0.1:-1"), None);
        assert_eq!(parse_daemon_address("bad host:2000"), None);
        assert_eq!(parse_daemon_address("émoji😀:2000"), None);
        assert_eq!(parse_daemon_address("tcp:127.0.0.1:2000"), None);
        assert_eq!(parse_daemon_address("nonsense"), None);
        assert_eq!(parse_daemon_address(""), None);
    }

    #[test]
    fn a_daemon_that_is_not_listening_never_fails_the_caller() {
        // Port 9 on loopback: nothing listens; UDP sends succeed or fail silently.
        let sink = UdpDaemonSink::new(SocketAddr::from(([127, 0, 0, 1], 9)));
        let s = Subsegment::start("## x", "1-5759e988-bd862e3fe1be46a994272793", None, 1.0);
        for _ in 0..3 {
            sink.export(&s);
        }
    }
}
