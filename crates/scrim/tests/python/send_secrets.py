"""Sends spans and logs full of planted secrets with the official OpenTelemetry Python SDK.

Usage: send_secrets.py GRPC_ENDPOINT HTTP_ENDPOINT COUNT
       (e.g. http://127.0.0.1:4317 http://127.0.0.1:4318 25)

For each transport (gRPC, then HTTP), COUNT spans named `e2e <transport> <i>` and COUNT log
records carrying `test.log_id = "<transport>-<i>"` go through the SDK's batch processors and
OTLP exporters to a `scrim agent`. The Rust test (tests/agent_e2e.rs) checks at the
agent's upstream that every one arrived and that none of the secrets below survived; it
holds the same list. Exits non-zero if any export failed.
"""
import json
import logging
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http import Compression

grpc_endpoint, http_endpoint, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
failures = []

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


class Checked:
    """Wraps an exporter to record failed exports (the SDK only logs them)."""

    def __init__(self, inner, name):
        self.inner, self.name = inner, name

    def export(self, batch):
        result = self.inner.export(batch)
        if getattr(result, "name", str(result)) != "SUCCESS":
            failures.append(f"{self.name}: {result}")
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def send(transport, span_exporter, log_exporter):
    resource = Resource.create(
        {
            "service.name": "checkout",
            "test.transport": transport,
            # A resource attribute with a secret in it: resources are redacted too.
            "deployment.note": "owner ops-lead@example.com",
        }
    )
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(Checked(span_exporter, f"{transport} spans"), max_export_batch_size=10)
    )
    tracer = tracer_provider.get_tracer("scrim-e2e", "1.0")
    for i in range(count):
        if i % 2 == 0:
            db = {
                "db.system.name": "postgresql",
                "db.query.text": "SELECT * FROM users WHERE email = 'alice.sql@example.com' AND ssn = '123-45-6789'",
            }
        else:
            db = {
                "db.system": "mysql",
                "db.statement": "UPDATE cards SET holder = 'Mallory' WHERE pan = '4111111111111111'",
            }
        with tracer.start_as_current_span(
            f"e2e {transport} {i}",
            kind=SpanKind.SERVER,
            attributes={
                "test.span_id": f"{transport}-{i}",
                "http.request.method": "POST",
                "url.full": "https://bob:hunter2pass@shop.example.com/checkout?token=tok_live_9f8e7d6c5b4a&step=2",
                "client.address": "198.51.100.77",
                "http.request.body": json.dumps(
                    {"username": "carol", "password": "Sup3rS3cret!", "card": "5500 0000 0000 0004"}
                ),
                "enduser.id": "user-erin-42",
                "http.request.header.authorization": [f"Bearer {JWT}"],
                "app.note": "pushed with ghp_abcdefghijklmnopqrstuvwxyz0123456789 and AKIAIOSFODNN7EXAMPLE",
                **db,
            },
        ) as span:
            try:
                raise ValueError("payment failed for dave@example.org with card 4111 1111 1111 1111")
            except ValueError as e:
                span.record_exception(e)
            span.set_status(Status(StatusCode.ERROR, "charge declined for heidi@example.com"))

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(Checked(log_exporter, f"{transport} logs"), max_export_batch_size=10)
    )
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    logger = logging.getLogger(f"scrim.e2e.{transport}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    for i in range(count):
        extra = {
            "test.log_id": f"{transport}-{i}",
            "user.email": "grace@example.com",
            "http.request.header.cookie": "session=s3cr3tcookie",
            "app.iban": "refund to DE89370400440532013000",
        }
        if i % 2 == 0:
            logger.warning(
                "login failed for frank@example.net from 203.0.113.99 password=Hunter2Hunter2", extra=extra
            )
        else:
            # A body that is a JSON document is redacted as a JSON body.
            logger.error(json.dumps({"user": "ivan", "password": "Hunter2Hunter2", "email": "frank@example.net"}), extra=extra)
    logger.removeHandler(handler)

    tracer_provider.force_flush()
    logger_provider.force_flush()
    tracer_provider.shutdown()
    logger_provider.shutdown()


send(
    "grpc",
    GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True),
    GrpcLogExporter(endpoint=grpc_endpoint, insecure=True),
)
send(
    "http",
    HttpSpanExporter(endpoint=f"{http_endpoint}/v1/traces", compression=Compression.Gzip),
    HttpLogExporter(endpoint=f"{http_endpoint}/v1/logs"),
)

if failures:
    print("export failures: " + "; ".join(failures), file=sys.stderr)
    sys.exit(1)
print("sent")
