"""A moto server for the cohort benchmark's 10 000-user DynamoDB run.

Usage: .venv/bin/python tests/benches/moto_bench_server.py PORT

Stock moto 5.2.5 (what `moto_server` runs) has two properties that make a
10 000-member apply impractical, neither of which changes which requests a
client sends -- so request counts measured here equal those against stock
moto or DynamoDB (absent throttling):

* TransactWriteItems deep-copies the whole table once per item of the call
  (up to 100 times per call) as its rollback backup; with ~30 000 items in
  the table that is minutes per call. Here the table is copied once per call.
* The server is threaded, and that backup copy iterates the table while
  other requests insert items ("dictionary changed size during iteration",
  HTTP 500, retried by the SDK). Here requests are served one at a time.
"""

import copy
import sys
import types

from werkzeug.serving import run_simple

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def transact_write_items_copying_once(self, transact_items):
    copies = {}

    def deepcopy(obj, memo=None):
        if not isinstance(obj, Table):
            return copy.deepcopy(obj, memo)
        if id(obj) not in copies:
            copies[id(obj)] = copy.deepcopy(obj, memo)
        return copies[id(obj)]

    # Safe to swap: the server below handles one request at a time.
    dynamodb_models.copy = types.SimpleNamespace(deepcopy=deepcopy)
    try:
        return _transact_write_items(self, transact_items)
    finally:
        dynamodb_models.copy = copy


dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items_copying_once

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        "127.0.0.1", port, app, threaded=False, request_handler=MotoRequestHandler
    )
