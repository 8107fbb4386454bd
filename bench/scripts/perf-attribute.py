#!/usr/bin/env python3
"""Attributes `perf record --call-graph dwarf` samples of `engage-bridge serve`
to subsystems (bench/PROFILE-before.md). Each sample goes to the first
category, in the order below, that any frame of its stack matches.

Usage: perf script -i perf.data -F comm,tid,period,ip,sym | python3 perf-attribute.py
"""

import re
import sys
from collections import Counter

CATEGORIES = [
    # Blocking-pool threads: every store call runs its SQL there under one
    # mutex (the stack does not show which handler asked).
    ("SQLite: WAL checkpoints (run inside commits)", r"walCheckpoint|sqlite3WalCheckpoint"),
    ("SQLite: statements and commits", r"sqlite3|rusqlite|pcache1|walChecksum|unixWrite|unixRead"),
    # The ingest request (axum handler → shared::api::router::route).
    ("ingest: parse request JSON (serde_path_to_error → Value)", r"shared::api::parse_json"),
    ("ingest: validate Events-API batches", r"events_api::read_"),
    ("ingest: map to events + profile updates (v5 uuids)", r"mapper::map_batches"),
    ("ingest: pack queue messages (serialize every event)", r"pack_messages"),
    ("ingest: profile updates (merge, to_json)", r"update_profiles|ProfileUpdate|store::sqlite::to_json"),
    ("ingest: drop the parsed request (free the Value tree)", r"(?s)(?=.*drop_in_place<serde_json::value::Value>|.*IntoIter<alloc::string::String,serde_json::value::Value>)(?=.*router::route)"),
    ("ingest: other (routing, auth, rate limit, response)", r"router::route"),
    # The events-queue consumer (shared::runtime::consumer::run).
    ("dispatch: parse queue messages (from_str → Event)", r"(?s)(?=.*serde_json::de::from_str)(?=.*consumer::run)"),
    ("dispatch: webhook body (Event → Value → bytes)", r"webhook::body|RequestBuilder::json|serde_json::value::to_value"),
    ("dispatch: HTTP client (reqwest/hyper client)", r"reqwest::|hyper::client|hyper_util::client"),
    ("dispatch: enrich + select (clones events)", r"enrich::|selection::|Event as core::clone::Clone"),
    ("dispatch: profile lookup (get_profiles, from_json)", r"Profiles::load|get_profiles|store::sqlite::from_json"),
    ("dispatch: drop events (free)", r"(?s)(?=.*drop_in_place<shared::domain::event::Event|.*drop_in_place<serde_json::value::Value>|.*IntoIter<alloc::string::String,serde_json::value::Value>)(?=.*consumer::run)"),
    ("dispatch: other (consumer loop)", r"consumer::run"),
    ("logging (tracing)", r"tracing_subscriber|tracing_core"),
    ("HTTP server (hyper/axum: read bodies, write answers)", r"axum::|hyper::proto|hyper::body"),
    ("tokio scheduler / kernel scheduling", r"tokio::runtime|finish_task_switch|schedule|futex"),
]


def samples(lines):
    """Stacks (leaf first, symbol names) of `perf script` output: a header line
    per sample, then one indented `address symbol` line per frame."""
    stack = []
    for line in lines:
        if line.startswith(("\t", " ")) and line.strip():
            parts = line.strip().split(" ", 1)
            stack.append(parts[-1])
        elif stack:
            yield stack
            stack = []
    if stack:
        yield stack


def main():
    compiled = [(name, re.compile(pattern)) for name, pattern in CATEGORIES]
    counts = Counter()
    total = 0
    for stack in samples(sys.stdin):
        total += 1
        text = "\n".join(stack)
        for name, pattern in compiled:
            if pattern.search(text):
                counts[name] += 1
                break
        else:
            counts["other"] += 1
    print(f"| subsystem | share of serve's CPU samples |\n|---|---:|")
    for name, n in counts.most_common():
        print(f"| {name} | {100.0 * n / total:.1f} % |")
    print(f"\n{total} samples")


if __name__ == "__main__":
    main()
