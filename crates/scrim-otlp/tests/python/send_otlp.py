"""Sends spans and logs with the official OpenTelemetry Python SDK to Scrim's receivers.

Usage: send_otlp.py GRPC_ENDPOINT HTTP_ENDPOINT   (e.g. http://127.0.0.1:4317 http://127.0.0.1:4318)

Each transport gets one span and one log record whose attributes name the transport, so
the Rust test (tests/python_sdk.rs) can tell what arrived over which. Exits non-zero if an
export fails.
"""
import logging
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http import Compression

grpc_endpoint, http_endpoint = sys.argv[1], sys.argv[2]
failures = []


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
    resource = Resource.create({"service.name": "python-sdk-test", "test.transport": transport})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(Checked(span_exporter, f"{transport} spans")))
    tracer = tracer_provider.get_tracer("scrim-python-test", "1.0")
    with tracer.start_as_current_span(
        f"checkout {transport}",
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.response.status_code": 201, "test.transport": transport},
    ) as span:
        span.add_event("payment authorised", {"amount.cents": 1299})
        span.set_status(Status(StatusCode.OK))

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(Checked(log_exporter, f"{transport} logs")))
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    logger = logging.getLogger(f"scrim.{transport}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.warning("order placed via %s", transport, extra={"order.id": 4242, "test.transport": transport})
    logger.removeHandler(handler)

    tracer_provider.shutdown()
    logger_provider.shutdown()


send("grpc", GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True), GrpcLogExporter(endpoint=grpc_endpoint, insecure=True))
send(
    "http",
    HttpSpanExporter(endpoint=f"{http_endpoint}/v1/traces", compression=Compression.Gzip),
    HttpLogExporter(endpoint=f"{http_endpoint}/v1/logs"),
)

if failures:
    print("export failures: " + "; ".join(failures), file=sys.stderr)
    sys.exit(1)
print("sent")
