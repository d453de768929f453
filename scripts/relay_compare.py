#!/usr/bin/env python3
"""Sentry Relay's PII scrubber on the same log text as `benches/text.rs`.

A rough point of comparison, not a like-for-like benchmark: Relay's Python entry point
(`sentry_relay.pii_strip_event`) scrubs a whole event, so the time includes JSON
encoding and decoding of the event and the FFI call. The text is split into its lines,
sent as a list of strings under `extra`, and scrubbed with Relay's `@common` rules
(IPs, emails, credit cards, PEM keys, URL auth, user paths, passwords, US SSNs).

Usage:
    SCRIM_TEXT_DUMP_DIR=/tmp/scrim-text \
        cargo bench -p scrim-redact --bench text -- --warm-up-time 1 --measurement-time 3 clean/find
    pip install --target /tmp/relay-py sentry-relay
    PYTHONPATH=/tmp/relay-py python3 scripts/relay_compare.py /tmp/scrim-text
"""

import json
import sys
import time
from pathlib import Path

import sentry_relay

CONFIG = {"applications": {"$string": ["@common:filter"]}}


def measure(text: str, rounds: int = 5) -> tuple[float, int]:
    event = {"extra": {"lines": text.split("\n")}}
    best = float("inf")
    changed = 0
    for _ in range(rounds):
        start = time.perf_counter()
        out = sentry_relay.pii_strip_event(CONFIG, event)
        best = min(best, time.perf_counter() - start)
        changed = sum(
            a != b for a, b in zip(event["extra"]["lines"], out["extra"]["lines"])
        )
    return best, changed


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/scrim-text")
    sentry_relay.validate_pii_config(json.dumps(CONFIG))
    for name in ("clean", "sensitive5"):
        text = (folder / f"{name}.log").read_text()
        seconds, changed = measure(text)
        mib_s = len(text.encode()) / seconds / (1 << 20)
        print(f"relay {name}: {mib_s:8.1f} MiB/s  ({changed} of {text.count(chr(10))} lines changed)")


if __name__ == "__main__":
    main()
