//! A UDP collector standing in for the X-Ray daemon.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::HarnessError;

type OnDatagram = dyn Fn(&[u8]) + Send + Sync;

/// Receives datagrams on a real UDP socket on 127.0.0.1, as the X-Ray daemon would. Give the
/// code under test `AWS_XRAY_DAEMON_ADDRESS` = [`UdpCollector::daemon_address`].
///
/// ```
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let collector = powertools_testing::UdpCollector::start().await?;
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// socket.send_to(b"{\"format\":\"json\",\"version\":1}\n{}", collector.address())?;
/// let datagrams = collector.wait_for(1, Duration::from_secs(5)).await;
/// assert_eq!(datagrams.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UdpCollector {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    task: JoinHandle<()>,
}

impl Drop for UdpCollector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UdpCollector {
    /// Binds a free loopback port and starts receiving.
    pub async fn start() -> Result<Self, HarnessError> {
        Self::start_with(|_| {}).await
    }

    /// Like [`UdpCollector::start`], also calling `on_datagram` for each datagram received.
    pub async fn start_with<F>(on_datagram: F) -> Result<Self, HarnessError>
    where
        F: Fn(&[u8]) + Send + Sync + 'static,
    {
        let socket = UdpSocket::bind(("127.0.0.1", 0))
            .await
            .map_err(HarnessError::Io)?;
        let addr = socket.local_addr().map_err(HarnessError::Io)?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        let on_datagram: Arc<OnDatagram> = Arc::new(on_datagram);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, _)) = socket.recv_from(&mut buf).await {
                let datagram = buf[..n].to_vec();
                on_datagram(&datagram);
                if let Ok(mut all) = sink.lock() {
                    all.push(datagram);
                }
            }
        });
        Ok(Self {
            addr,
            received,
            task,
        })
    }

    /// The socket's address.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// The value for `AWS_XRAY_DAEMON_ADDRESS`.
    pub fn daemon_address(&self) -> String {
        self.addr.to_string()
    }

    /// The datagrams received so far.
    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        self.received.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Waits until at least `count` datagrams arrived (or `timeout` passed); returns them all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let now = self.datagrams();
            if now.len() >= count || tokio::time::Instant::now() >= deadline {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
