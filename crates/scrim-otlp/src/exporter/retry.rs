//! Retry policy: exponential backoff with full jitter, `Retry-After` and `RetryInfo`.
//!
//! The delay computation is pure ([`backoff_ceiling`], [`next_delay`],
//! [`parse_retry_after`]); waiting goes through a [`Sleeper`], so tests record the
//! requested delays instead of sleeping.

use std::time::{Duration, SystemTime};

use crate::model::BoxFuture;

/// How the exporter retries retryable failures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// `false`: one attempt only.
    pub enabled: bool,
    /// Ceiling of the first backoff delay. Default 500 ms.
    pub initial_interval: Duration,
    /// Largest backoff ceiling. Default 30 s.
    pub max_interval: Duration,
    /// Give up once the time spent (attempts plus delays) would pass this. Default 5 min.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
        }
    }
}

/// The ceiling of the delay before retry number `retry` (0 for the first retry):
/// `min(max_interval, initial_interval × 2^retry)`.
pub fn backoff_ceiling(policy: &RetryPolicy, retry: u32) -> Duration {
    let factor = 2u32.checked_pow(retry.min(31)).unwrap_or(u32::MAX);
    policy
        .initial_interval
        .checked_mul(factor)
        .unwrap_or(Duration::MAX)
        .min(policy.max_interval)
}

/// The delay before retry number `retry`. A server's `Retry-After` / `RetryInfo` delay is
/// used as is when present; otherwise full jitter: `ceiling × unit`, where `unit` is a
/// uniform random number in `[0, 1)` (clamped into that range).
pub fn next_delay(
    policy: &RetryPolicy,
    retry: u32,
    server_delay: Option<Duration>,
    unit: f64,
) -> Duration {
    match server_delay {
        Some(d) => d,
        None => {
            let unit = if unit.is_finite() {
                unit.clamp(0.0, 1.0)
            } else {
                0.0
            };
            backoff_ceiling(policy, retry).mul_f64(unit)
        }
    }
}

/// Parses a `Retry-After` header value: delay-seconds or an HTTP-date (a date in the past
/// means no wait).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Waits between attempts. The default is [`TokioSleeper`]; tests inject one that records.
pub trait Sleeper: Send + Sync + 'static {
    /// Completes after `delay`.
    fn sleep(&self, delay: Duration) -> BoxFuture<'static, ()>;
}

/// [`Sleeper`] on `tokio::time::sleep`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, delay: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_max() {
        let p = RetryPolicy::default();
        let ms = |r| backoff_ceiling(&p, r).as_millis();
        assert_eq!(
            (0..8).map(ms).collect::<Vec<_>>(),
            vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
        );
        assert_eq!(ms(1000), 30000);
    }

    #[test]
    fn full_jitter_scales_the_ceiling() {
        let p = RetryPolicy::default();
        assert_eq!(next_delay(&p, 2, None, 0.0), Duration::ZERO);
        assert_eq!(next_delay(&p, 2, None, 0.5), Duration::from_secs(1));
        assert_eq!(next_delay(&p, 2, None, 7.0), Duration::from_secs(2));
        assert_eq!(next_delay(&p, 2, None, f64::NAN), Duration::ZERO);
        assert_eq!(
            next_delay(&p, 0, Some(Duration::from_secs(42)), 0.5),
            Duration::from_secs(42)
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
