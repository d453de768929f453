//! OTLP ingest on the server: authenticate, apply the tenant's capture policy, write ahead.

use std::sync::Arc;
use std::time::Duration;

use scrim_meta::{Principal, Scope};

use crate::access::KeyRefusal;
use scrim_otlp::{Accepted, Batch, BoxFuture, Credential, RequestContext, Signal, Sink, SinkError};
use scrim_store::StoreError;

use crate::tenants::Tenants;

/// The receivers' sink: a batch is acknowledged only once it is redacted and in the
/// tenant's WAL on disk.
pub(crate) struct IngestSink {
    /// API-key checks with failure lockout, shared with the REST API.
    pub gate: Arc<crate::access::Gate>,
    pub tenants: Arc<Tenants>,
    /// Woken when a tenant's buffer grows past the flush threshold.
    pub flush_now: Arc<tokio::sync::Notify>,
    pub flush_rows: usize,
    /// Per-tenant ingest rate limits, if configured.
    pub rate_limits: Option<crate::rate::RateLimits>,
    /// Accepted requests and items per key and hour, for the audit log.
    pub counts: Arc<crate::audit::IngestCounts>,
    /// What the capture policy removed where, for sensitive-data insights.
    pub alerting: Arc<crate::alerts::Alerting>,
}

impl Sink for IngestSink {
    fn consume(
        &self,
        mut batch: Batch,
        ctx: RequestContext,
    ) -> BoxFuture<'_, Result<Accepted, SinkError>> {
        Box::pin(async move {
            let origin = crate::audit::Origin {
                addr: ctx.peer.map(|p| p.ip()),
                user_agent: ctx.user_agent.clone(),
                request_id: None,
            };
            let principal = authenticate(&self.gate, ctx.authorization.as_ref(), &origin).await?;
            let (needed, signal_index) = match batch.signal() {
                Signal::Traces => (Scope::IngestTraces, 0),
                Signal::Logs => (Scope::IngestLogs, 1),
                Signal::Metrics => (Scope::IngestMetrics, 2),
            };
            let items = batch.item_count();
            if !principal.scopes.contains(needed) {
                return Err(SinkError::PermissionDenied);
            }
            if let Some(limits) = &self.rate_limits {
                limits
                    .take(
                        principal.tenant_id.as_str(),
                        batch.item_count(),
                        std::time::Instant::now(),
                    )
                    .map_err(|wait| SinkError::Throttled {
                        retry_after: Some(wait),
                    })?;
            }
            let rt = self
                .tenants
                .get(&principal.tenant_id)
                .await
                .map_err(|e| match e {
                    // Never written here, in another region's place.
                    e @ crate::ServerError::OtherRegion { .. } => {
                        SinkError::Misdirected(e.to_string())
                    }
                    e => SinkError::Internal(e.to_string()),
                })?;
            let worker = Arc::clone(&rt);
            // Redaction is CPU work and the WAL append waits for fsync: off the async threads.
            let appended = tokio::task::spawn_blocking(move || {
                let (_, found) =
                    scrim_otlp::redact::redact_batch_located(&mut batch, &worker.redactor());
                worker.log.append(&batch).map(|()| found)
            })
            .await
            .map_err(|e| SinkError::Internal(format!("ingest task: {e}")))?;
            match appended {
                Ok(found) => self.alerting.findings.add(
                    principal.tenant_id.as_str(),
                    &found,
                    crate::audit::now_ms(),
                ),
                Err(StoreError::Full) => {
                    self.flush_now.notify_one();
                    return Err(SinkError::Unavailable {
                        retry_after: Some(Duration::from_secs(5)),
                    });
                }
                Err(StoreError::InvalidInput(m)) => return Err(SinkError::Invalid(m)),
                Err(e) => return Err(SinkError::Internal(e.to_string())),
            }
            if rt.log.buffered_rows() >= self.flush_rows {
                self.flush_now.notify_one();
            }
            self.counts.add(
                principal.tenant_id.as_str(),
                principal.key_id.as_str(),
                signal_index,
                items,
                crate::audit::now_ms(),
            );
            Ok(Accepted::all())
        })
    }
}

/// The principal behind an `Authorization: Bearer scrim_…` header (gRPC metadata or HTTP).
/// The tenant comes from the key, never from the request. A source address or key id that
/// keeps failing is refused with 429 for a while (`access::KeyGuard`).
pub(crate) async fn authenticate(
    gate: &crate::access::Gate,
    authorization: Option<&Credential>,
    origin: &crate::audit::Origin,
) -> Result<Principal, SinkError> {
    let presented = authorization
        .and_then(|c| bearer(c.expose()))
        .ok_or(SinkError::Unauthenticated)?;
    gate.authenticate_key(presented, origin)
        .await
        .map_err(|r| match r {
            KeyRefusal::Unauthenticated => SinkError::Unauthenticated,
            KeyRefusal::Locked(l) => SinkError::Throttled {
                retry_after: Some(l.retry_after),
            },
            KeyRefusal::Unavailable => SinkError::Unavailable {
                retry_after: Some(Duration::from_secs(1)),
            },
        })
}

/// The token of a `Bearer` authorization value (scheme case-insensitive, RFC 9110).
pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer("Bearer scrim_a_b"), Some("scrim_a_b"));
        assert_eq!(bearer("bearer   scrim_a_b "), Some("scrim_a_b"));
        assert_eq!(bearer("Basic dXNlcjpwdw=="), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("scrim_a_b"), None);
    }
}
