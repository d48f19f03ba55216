//! Request bodies must arrive in time: within `body_read_timeout_secs` in all, and after a
//! grace period at `min_body_bytes_per_sec` on average. A body that falls behind ends with an
//! error (the handler refuses the request and, the body unread, the connection closes), so a
//! trickling upload cannot hold a connection and a buffer for as long as it likes.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::serve::ConnectionLimits;

/// Middleware: wraps the request body in [`Guarded`].
pub async fn guard(State(limits): State<ConnectionLimits>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let guarded = Guarded::new(body, &limits);
    next.run(Request::from_parts(parts, Body::new(guarded)))
        .await
}

pin_project_lite::pin_project! {
    /// A body that fails when it arrives too slowly.
    pub struct Guarded {
        #[pin]
        inner: Body,
        #[pin]
        sleep: Sleep,
        started: Instant,
        read: u64,
        total: Duration,
        grace: Duration,
        min_rate: u64,
    }
}

impl Guarded {
    pub fn new(inner: Body, l: &ConnectionLimits) -> Self {
        let started = Instant::now();
        let total = Duration::from_secs(l.body_read_timeout_secs);
        let grace = Duration::from_secs(l.slow_body_grace_secs).min(total);
        let min_rate = l.min_body_bytes_per_sec;
        Self {
            inner,
            sleep: tokio::time::sleep_until(deadline(started, 0, total, grace, min_rate)),
            started,
            read: 0,
            total,
            grace,
            min_rate,
        }
    }
}

/// When `read` bytes stop being enough: `read / min_rate` seconds after the start (at least
/// the grace period), and never after the overall timeout.
fn deadline(
    started: Instant,
    read: u64,
    total: Duration,
    grace: Duration,
    min_rate: u64,
) -> Instant {
    let by_rate = if min_rate == 0 {
        total
    } else {
        Duration::from_secs_f64(read as f64 / min_rate as f64).max(grace)
    };
    started + by_rate.min(total)
}

fn too_slow() -> axum::Error {
    axum::Error::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the request body arrived too slowly",
    ))
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut this = self.project();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    *this.read += d.len() as u64;
                    let next = deadline(
                        *this.started,
                        *this.read,
                        *this.total,
                        *this.grace,
                        *this.min_rate,
                    );
                    this.sleep.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match this.sleep.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(too_slow()))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
