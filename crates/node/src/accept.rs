//! The accept loop every port shares: one task per connection, and a short
//! pause instead of a spin when accepting fails (out of file descriptors
//! and the like).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tracing::warn;

/// Accepts connections on `listener` for as long as the node runs and
/// spawns `handle` for each (one short-lived task per connection). The
/// listener is shared so that a restarted accept loop uses the same port. `port` names the port in the log.
pub async fn accept_forever<F, Fut>(listener: Arc<TcpListener>, port: &'static str, mut handle: F)
where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                tokio::spawn(handle(stream, remote));
            }
            Err(err) => {
                warn!("{port} accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
