//! A loopback OTLP/HTTP load generator, and a blackhole upstream, for measuring a whole
//! collector (`scrim agent`, Rotel, …). Not a test: see BENCHMARKS.md for how it is run.
//!
//! ```text
//! otlp_load --blackhole 127.0.0.1:14318 [--decode]
//!     answers every POST with 200 and an empty protobuf response; counts the spans it
//!     received and reports them at `GET /count` (`spans N`). It gunzips each body and
//!     counts the spans by walking the protobuf framing (resource spans ▸ scope spans ▸
//!     spans), without building the request: the upstream should cost the collector's
//!     benchmark as little CPU as it can. `--decode` decodes every request with `prost`
//!     instead (what it did first: about 2 µs per span, a large share of the load core).
//! otlp_load --target 127.0.0.1:4318 [--connections 8] [--spans 512] [--seconds 20]
//!           [--warmup 3] [--gzip | --grpc] [--header NAME:VALUE]... [--requests 16]
//!     N connections (HTTP/1.1 keep-alive), each sending pre-encoded
//!     ExportTraceServiceRequests of M spans to /v1/traces back to back; prints the spans
//!     acknowledged (HTTP 200) per second over the measured window, after the warm-up.
//!     `--requests` is how many different requests are cycled (more: fewer repeated
//!     trace and span ids, for measuring bytes on disk). `--header` (repeatable) adds a
//!     header to every request: `--header "authorization:Bearer scrim_…"` for `scrim serve`.
//!     The total acknowledged, warm-up included, goes to stderr. `--grpc`: the same
//!     requests over OTLP/gRPC (`TraceService/Export`, one HTTP/2 connection each, the
//!     pre-encoded bytes sent as the message) to a gRPC port instead.
//! ```
//!
//! The requests come from `crates/scrim-otlp/benches/common/workload.rs` (the same
//! workload as the `redact` criterion bench): realistic HTTP server and database spans,
//! about 5% of the values carrying a planted secret; 16 different requests are cycled.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;

#[path = "../../scrim-otlp/benches/common/workload.rs"]
mod workload;

struct Options {
    target: Option<SocketAddr>,
    blackhole: Option<SocketAddr>,
    connections: usize,
    spans: usize,
    seconds: u64,
    warmup: u64,
    gzip: bool,
    headers: Vec<(String, String)>,
    requests: u64,
    decode: bool,
    grpc: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: otlp_load --target ADDR [--connections N] [--spans M] [--seconds D] [--warmup W] [--gzip] [--header NAME:VALUE]... [--requests N]\n       otlp_load --blackhole ADDR [--decode]"
    );
    std::process::exit(2)
}

fn options() -> Options {
    let mut o = Options {
        target: None,
        blackhole: None,
        connections: 8,
        spans: 512,
        seconds: 20,
        warmup: 3,
        gzip: false,
        headers: Vec::new(),
        requests: 16,
        decode: false,
        grpc: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--target" => o.target = Some(value().parse().unwrap_or_else(|_| usage())),
            "--blackhole" => o.blackhole = Some(value().parse().unwrap_or_else(|_| usage())),
            "--connections" => o.connections = value().parse().unwrap_or_else(|_| usage()),
            "--spans" => o.spans = value().parse().unwrap_or_else(|_| usage()),
            "--seconds" => o.seconds = value().parse().unwrap_or_else(|_| usage()),
            "--warmup" => o.warmup = value().parse().unwrap_or_else(|_| usage()),
            "--gzip" => o.gzip = true,
            "--decode" => o.decode = true,
            "--grpc" => o.grpc = true,
            "--requests" => o.requests = value().parse().unwrap_or_else(|_| usage()),
            "--header" => {
                let h = value();
                let (name, v) = h.split_once(':').unwrap_or_else(|| usage());
                o.headers
                    .push((name.trim().to_owned(), v.trim().to_owned()));
            }
            _ => usage(),
        }
    }
    if o.target.is_none() == o.blackhole.is_none() || (o.grpc && o.gzip) {
        usage();
    }
    o
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(addr) = o.blackhole {
        runtime.block_on(blackhole(addr, o.decode));
    } else {
        runtime.block_on(load(o));
    }
}

/// Reads every request and counts the spans of `/v1/traces` bodies (gunzipped when sent
/// gzipped); answers 200 with an empty (valid) protobuf response. `GET /count` answers
/// `spans N`, the total so far.
async fn blackhole(addr: SocketAddr, decode: bool) {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("blackhole listens");
    eprintln!("blackhole: listening on {}", listener.local_addr().unwrap());
    let spans = Arc::new(AtomicU64::new(0));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let spans = Arc::clone(&spans);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let spans = Arc::clone(&spans);
                async move {
                    if req.method() == hyper::Method::GET {
                        let text = format!("spans {}\n", spans.load(Relaxed));
                        return Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(text))));
                    }
                    let gzip = req
                        .headers()
                        .get("content-encoding")
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
                    let traces = req.uri().path() == "/v1/traces";
                    let body = req.into_body().collect().await?.to_bytes();
                    if traces {
                        spans.fetch_add(count_spans(&body, gzip, decode), Relaxed);
                    }
                    Ok(Response::builder()
                        .status(StatusCode::OK)
                        .header("content-type", "application/x-protobuf")
                        .body(Full::new(Bytes::new()))
                        .expect("response"))
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn count_spans(body: &[u8], gzip: bool, decode: bool) -> u64 {
    use std::io::Read as _;
    let mut inflated = Vec::new();
    let raw = if gzip {
        if flate2::read::GzDecoder::new(body)
            .read_to_end(&mut inflated)
            .is_err()
        {
            return 0;
        }
        &inflated[..]
    } else {
        body
    };
    if !decode {
        // ExportTraceServiceRequest.resource_spans = 1, ResourceSpans.scope_spans = 2,
        // ScopeSpans.spans = 2.
        return wire::count(raw, &[1, 2, 2]).unwrap_or(0);
    }
    scrim_otlp::proto::ExportTraceServiceRequest::decode(raw).map_or(0, |r| {
        r.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len() as u64)
            .sum()
    })
}

/// A gRPC codec that sends pre-encoded messages and ignores the answer's body.
mod raw {
    use bytes::{BufMut as _, Bytes};
    use tonic::Status;
    use tonic::codec::{DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Clone, Copy)]
    pub struct Codec;

    impl tonic::codec::Codec for Codec {
        type Encode = Bytes;
        type Decode = ();
        type Encoder = Codec;
        type Decoder = Codec;
        fn encoder(&mut self) -> Codec {
            Codec
        }
        fn decoder(&mut self) -> Codec {
            Codec
        }
    }

    impl Encoder for Codec {
        type Item = Bytes;
        type Error = Status;
        fn encode(&mut self, item: Bytes, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
            buf.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for Codec {
        type Item = ();
        type Error = Status;
        fn decode(&mut self, _buf: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
            Ok(Some(()))
        }
    }
}

/// Counting nested messages on the protobuf wire format.
mod wire {
    fn varint(buf: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = buf.split_first()?;
            *buf = rest;
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(value);
            }
        }
        None
    }

    /// How many messages the field path reaches: `path[0]` of `msg`, then `path[1]` of each
    /// of those, and so on (every field on the path length-delimited). `None` when the
    /// framing is broken.
    pub fn count(mut msg: &[u8], path: &[u32]) -> Option<u64> {
        let Some((&field, rest)) = path.split_first() else {
            return Some(1);
        };
        let mut n = 0;
        while !msg.is_empty() {
            let key = varint(&mut msg)?;
            let len = match key & 7 {
                0 => {
                    varint(&mut msg)?;
                    continue;
                }
                1 => 8,
                5 => 4,
                2 => usize::try_from(varint(&mut msg)?).ok()?,
                _ => return None,
            };
            if len > msg.len() {
                return None;
            }
            let (value, after) = msg.split_at(len);
            msg = after;
            if key & 7 == 2 && key >> 3 == u64::from(field) {
                n += count(value, rest)?;
            }
        }
        Some(n)
    }
}

async fn load(o: Options) {
    let target = o.target.expect("target");
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..o.requests.max(1))
            .map(|seed| {
                let raw = workload::trace_request(o.spans, seed + 1).encode_to_vec();
                if o.gzip {
                    let mut enc = flate2::write::GzEncoder::new(
                        Vec::with_capacity(raw.len() / 4),
                        flate2::Compression::default(),
                    );
                    enc.write_all(&raw).expect("gzip");
                    Bytes::from(enc.finish().expect("gzip"))
                } else {
                    Bytes::from(raw)
                }
            })
            .collect(),
    );
    eprintln!(
        "load: {} connections → http://{target}/v1/traces, {} spans per request ({} bytes{}), {}s warm-up, {}s measured",
        o.connections,
        o.spans,
        bodies[0].len(),
        if o.gzip { ", gzip" } else { "" },
        o.warmup,
        o.seconds
    );
    let acked = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let headers = Arc::new(o.headers);
    let mut tasks = Vec::new();
    for c in 0..o.connections {
        let (bodies, headers, acked, errors, stop) = (
            Arc::clone(&bodies),
            Arc::clone(&headers),
            Arc::clone(&acked),
            Arc::clone(&errors),
            Arc::clone(&stop),
        );
        let spans = o.spans as u64;
        if o.grpc {
            tasks.push(tokio::spawn(async move {
                let channel = tonic::transport::Channel::from_shared(format!("http://{target}"))
                    .expect("gRPC target")
                    .connect()
                    .await
                    .expect("connect to target");
                let mut grpc = tonic::client::Grpc::new(channel);
                let mut n = c;
                while !stop.load(Relaxed) {
                    let mut req = tonic::Request::new(bodies[n % bodies.len()].clone());
                    for (name, value) in headers.iter() {
                        if let (Ok(k), Ok(v)) = (
                            tonic::metadata::MetadataKey::from_bytes(name.as_bytes()),
                            value.parse(),
                        ) {
                            req.metadata_mut().insert(k, v);
                        }
                    }
                    n += 1;
                    if let Err(e) = grpc.ready().await {
                        eprintln!("load: connection {c}: {e}");
                        return;
                    }
                    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
                        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                    );
                    match grpc.unary(req, path, raw::Codec).await {
                        Ok(_) => {
                            acked.fetch_add(spans, Relaxed);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Relaxed);
                        }
                    }
                }
            }));
            continue;
        }
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(target)
                .await
                .expect("connect to target");
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("HTTP/1.1 handshake");
            tokio::spawn(conn);
            let mut n = c;
            while !stop.load(Relaxed) {
                let mut req = Request::post(format!("http://{target}/v1/traces"))
                    .header("host", target.to_string())
                    .header("content-type", "application/x-protobuf");
                if o.gzip {
                    req = req.header("content-encoding", "gzip");
                }
                for (name, value) in headers.iter() {
                    req = req.header(name.as_str(), value.as_str());
                }
                let req = req
                    .body(Full::new(bodies[n % bodies.len()].clone()))
                    .expect("request");
                n += 1;
                match sender.send_request(req).await {
                    Ok(res) => {
                        let ok = res.status() == StatusCode::OK;
                        let _ = res.into_body().collect().await;
                        if ok {
                            acked.fetch_add(spans, Relaxed);
                        } else {
                            errors.fetch_add(1, Relaxed);
                        }
                    }
                    Err(e) => {
                        errors.fetch_add(1, Relaxed);
                        eprintln!("load: connection {c}: {e}");
                        return;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(o.warmup)).await;
    let (start_spans, start_errors, started) =
        (acked.load(Relaxed), errors.load(Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(o.seconds)).await;
    let (spans, errs, elapsed) = (
        acked.load(Relaxed) - start_spans,
        errors.load(Relaxed) - start_errors,
        started.elapsed().as_secs_f64(),
    );
    stop.store(true, Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    eprintln!(
        "load: {} spans acknowledged in all (warm-up included)",
        acked.load(Relaxed)
    );
    println!(
        "spans_per_sec={:.0} spans={spans} seconds={elapsed:.1} errors={errs}",
        spans as f64 / elapsed
    );
}
