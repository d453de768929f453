//! Per-tenant ingest rate limits: a token bucket of telemetry items (spans, log records,
//! data points) per tenant on this node. A request over the limit is answered 429 (gRPC
//! `RESOURCE_EXHAUSTED`) with `Retry-After`, so OTLP exporters back off and retry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One tenant's bucket: `capacity` items, refilled at `rate` items per second.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets of every tenant, created full on first use.
#[derive(Debug)]
pub(crate) struct RateLimits {
    rate: f64,
    capacity: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimits {
    /// `per_second` items per second per tenant, bursts up to two seconds' worth.
    pub fn new(per_second: u64) -> RateLimits {
        let rate = per_second.max(1) as f64;
        RateLimits {
            rate,
            capacity: 2.0 * rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `items` from `tenant`'s bucket at `now`, or says how long to wait. A request
    /// larger than the whole bucket passes when the bucket is full (and empties it into
    /// debt), so no request size is refused forever.
    pub fn take(&self, tenant: &str, items: u64, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.entry(tenant.to_owned()).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.capacity);
        b.at = now;
        let items = items as f64;
        if items <= b.tokens || b.tokens >= self.capacity {
            b.tokens -= items;
            return Ok(());
        }
        let missing = items.min(self.capacity) - b.tokens;
        Err(Duration::from_secs_f64(
            (missing / self.rate).ceil().max(1.0),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_bursts_then_the_rate() {
        let limits = RateLimits::new(100);
        let t0 = Instant::now();
        assert_eq!(limits.take("a", 150, t0), Ok(()));
        assert_eq!(limits.take("a", 50, t0), Ok(()));
        // Empty: 100 items need one second.
        assert_eq!(limits.take("a", 100, t0), Err(Duration::from_secs(1)));
        // Another tenant has its own bucket.
        assert_eq!(limits.take("b", 200, t0), Ok(()));
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(limits.take("a", 50, t1), Ok(()));
        assert!(limits.take("a", 1, t1).is_err());
        // Refills to capacity, never beyond.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(limits.take("a", 200, t2), Ok(()));
        assert!(limits.take("a", 1, t2).is_err());
    }

    #[test]
    fn an_oversized_request_passes_only_from_a_full_bucket() {
        let limits = RateLimits::new(10);
        let t0 = Instant::now();
        assert_eq!(limits.take("a", 500, t0), Ok(()), "full bucket: into debt");
        // 480 items of debt plus 20 of capacity: refused until it is repaid.
        let wait = limits
            .take("a", 500, t0 + Duration::from_secs(1))
            .unwrap_err();
        assert!(wait >= Duration::from_secs(1), "{wait:?}");
        assert_eq!(limits.take("a", 500, t0 + Duration::from_secs(50)), Ok(()));
    }
}
