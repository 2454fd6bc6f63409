//! A local OTLP/HTTP endpoint that accepts trace exports and counts them, so that the
//! exporter does its whole job (encode, send) without a collector.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;

/// What the sink received.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub requests: u64,
    pub bytes: u64,
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    bytes: AtomicU64,
}

pub struct Sink {
    address: std::net::SocketAddr,
    counts: Arc<Counts>,
}

impl Sink {
    /// The traces endpoint to give the exporter.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v1/traces", self.address)
    }

    pub fn spans_received(&self) -> Received {
        Received {
            requests: self.counts.requests.load(Ordering::Relaxed),
            bytes: self.counts.bytes.load(Ordering::Relaxed),
        }
    }
}

pub async fn start() -> Sink {
    let counts = Arc::new(Counts::default());
    let seen = counts.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let seen = seen.clone();
            async move {
                seen.requests.fetch_add(1, Ordering::Relaxed);
                seen.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                // An empty ExportTraceServiceResponse.
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the OTLP sink");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Sink { address, counts }
}
