//! The HTTP listener with the limits a public endpoint needs: a deadline for the request
//! headers, a deadline and a minimum rate for request bodies, and a bound on the connections
//! one address may hold. Without them, a few hundred half-open connections or trickling
//! uploads hold the server's sockets and memory for as long as the attacker likes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// HTTP server settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// The admin listener's address: `/metrics` (and operator pages). Loopback by default;
    /// keep it off the public internet. `""` starts no admin listener.
    pub admin_listen: String,
    /// Largest request body accepted on upload routes, in bytes.
    pub max_body_bytes: usize,
    /// Requests processed by the biometric engine at the same time; more wait in line.
    pub max_concurrent_analyses: usize,
    /// Header and body deadlines, minimum upload rate, connections per address.
    pub limits: ConnectionLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:9464".into(),
            max_body_bytes: 24 * 1024 * 1024,
            max_concurrent_analyses: 0,
            limits: Default::default(),
        }
    }
}

/// Connection and request-reading limits (`[server]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// A connection must send a request's headers within this time (also between requests
    /// on a kept-alive connection).
    pub header_read_timeout_secs: u64,
    /// A request body must arrive within this time.
    pub body_read_timeout_secs: u64,
    /// After `slow_body_grace_secs`, a body must arrive at least this fast on average.
    pub min_body_bytes_per_sec: u64,
    pub slow_body_grace_secs: u64,
    /// Connections one client address may hold at once; more are closed on accept. Behind a
    /// reverse proxy every connection comes from the proxy: raise it there, and bound clients
    /// at the proxy.
    pub max_connections_per_ip: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 60,
            min_body_bytes_per_sec: 4096,
            slow_body_grace_secs: 10,
            max_connections_per_ip: 128,
        }
    }
}

impl ConnectionLimits {
    pub fn validate(&self) -> Result<(), String> {
        if self.header_read_timeout_secs == 0
            || self.body_read_timeout_secs == 0
            || self.max_connections_per_ip == 0
        {
            return Err(
                "server: header_read_timeout_secs, body_read_timeout_secs and \
                 max_connections_per_ip must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Open connections per client address.
#[derive(Clone, Default)]
struct PerIp(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// Counts one connection of an address while it lives.
struct Held {
    table: PerIp,
    ip: IpAddr,
}

impl PerIp {
    fn try_hold(&self, ip: IpAddr, max: usize) -> Option<Held> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Held {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut m = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting and lets the
/// requests in flight finish (for up to 30 s). Handlers see the peer address as
/// `ConnectInfo<SocketAddr>`; request bodies are guarded by `super::slow_body`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits.clone(),
        super::slow_body::guard,
    ));
    let per_ip = PerIp::default();
    // HTTP/1 only: the header deadline is an HTTP/1 setting (TLS and HTTP/2 end at the
    // reverse proxy in front).
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs));
    let builder = Arc::new(builder);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => {
                if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await.is_err() {
                    tracing::warn!("requests still in flight after 30 s; stopping anyway");
                }
                return Ok(());
            }
        };
        let Some(held) = per_ip.try_hold(peer.ip(), limits.max_connections_per_ip) else {
            tracing::warn!(peer = %peer.ip(), "connection refused: too many from this address");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                let mut app = app.clone();
                async move { tower::Service::call(&mut app, req.map(axum::body::Body::new)).await }
            });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _held = held;
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended");
            }
        });
    }
}
