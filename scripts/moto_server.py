"""moto_server for the test suite, with DynamoDB calls served one at a time.

Usage: .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p PORT
(the same arguments as `moto_server`; scripts/test starts it).

Stock moto 5.2.5 backs up the tables a TransactWriteItems call touches and,
when the transaction is cancelled, puts the backup back: every write another
thread made to those tables meanwhile is undone. DynamoDB itself isolates
transactions, and engage-bridge writes membership chunks concurrently, so
under a loaded test run stock moto loses members our code wrote and was told
were written (docs/architecture.md "Testing against moto"). Serving DynamoDB
calls one at a time restores the isolation; SQS calls (long polls included)
stay concurrent. Requests are unchanged, so what the tests assert about them
holds against DynamoDB too.
"""

import threading

from moto import server
from moto.dynamodb.responses import DynamoHandler

_one_at_a_time = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized(self):  # type: ignore[no-untyped-def]
    with _one_at_a_time:
        return _call_action(self)


DynamoHandler.call_action = _serialized

if __name__ == "__main__":
    server.main()
