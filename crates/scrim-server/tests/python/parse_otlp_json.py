"""Parses a Scrim OTLP/JSON export with the official protobuf definitions.

Usage: parse_otlp_json.py traces|logs FILE

FILE holds JSON lines, one OTLP export request each (ExportTraceServiceRequest or
ExportLogsServiceRequest), as `GET /api/v1/export?format=otlp-json` and `scrim export`
write them. Every line must parse with `google.protobuf.json_format.Parse` into the
request message of the `opentelemetry-proto` package, with unknown fields refused.

OTLP/JSON differs from the plain protobuf JSON mapping in one place: trace and span ids
are hex, not base64 (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding).
So each line is parsed twice: as written (which must succeed: every field name, enum and
number is in the protobuf JSON mapping), and with the ids turned from hex to base64 as
the OTLP specification says a protobuf JSON decoder must do, after which every trace id
must be 16 bytes and every span id 8 bytes.

Prints one JSON object: {"lines": N, "items": N, "trace_ids": N}. Exits non-zero on any
failure.
"""
import base64
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def ids_to_base64(value):
    """The OTLP/JSON hex ids of `value` (at any depth) as protobuf JSON's base64."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ID_FIELDS and isinstance(v, str):
                out[k] = base64.b64encode(bytes.fromhex(v)).decode("ascii")
            else:
                out[k] = ids_to_base64(v)
        return out
    if isinstance(value, list):
        return [ids_to_base64(v) for v in value]
    return value


def main():
    signal, path = sys.argv[1], sys.argv[2]
    message = {"traces": ExportTraceServiceRequest, "logs": ExportLogsServiceRequest}[signal]
    lines = items = 0
    trace_ids = set()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                raise SystemExit(f"line {number} is empty")
            lines += 1
            # As written: the protobuf JSON mapping must accept every field.
            json_format.Parse(line, message(), ignore_unknown_fields=False)
            # With OTLP's hex ids as protobuf JSON's base64.
            request = json_format.ParseDict(
                ids_to_base64(json.loads(line)), message(), ignore_unknown_fields=False
            )
            if signal == "traces":
                for rs in request.resource_spans:
                    for ss in rs.scope_spans:
                        for span in ss.spans:
                            items += 1
                            if len(span.trace_id) != 16 or len(span.span_id) != 8:
                                raise SystemExit(f"line {number}: an id has the wrong length")
                            if span.parent_span_id and len(span.parent_span_id) != 8:
                                raise SystemExit(f"line {number}: a parent id has the wrong length")
                            if span.start_time_unix_nano == 0 or not span.name:
                                raise SystemExit(f"line {number}: a span lacks its start or name")
                            trace_ids.add(span.trace_id.hex())
            else:
                for rl in request.resource_logs:
                    for sl in rl.scope_logs:
                        for record in sl.log_records:
                            items += 1
                            if record.trace_id:
                                if len(record.trace_id) != 16:
                                    raise SystemExit(f"line {number}: a trace id has the wrong length")
                                trace_ids.add(record.trace_id.hex())
                            if record.time_unix_nano == 0:
                                raise SystemExit(f"line {number}: a log record has no time")
    print(json.dumps({"lines": lines, "items": items, "trace_ids": len(trace_ids)}))


if __name__ == "__main__":
    main()
