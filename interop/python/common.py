"""What the interop scripts share: the command line, the kafkaesk
Application, the spec read from stdin and the JSON lines written to stdout.

Every script is run by the Go tests of interop/ as

    python SCRIPT.py --brokers HOST:PORT[,...] --prefix TOPIC_PREFIX < spec.json

reads its spec (a JSON object) from stdin, and prints one JSON object per
line to stdout (ASCII, bytes as base64), which the Go test checks field by
field. kafkaesk's and aiokafka's own logs go to stderr, which the Go test
shows when the script fails.
"""

import argparse
import asyncio
import base64
import json
import logging
import sys
import warnings

from kafkaesk import Application

# Short intervals so that a test waits for seconds, not minutes: topics are
# seen within 500 ms, offsets committed every 100 ms, a rebalance noticed
# within a 200 ms heartbeat; 6 s is the least session timeout Kafka accepts.
KAFKA_SETTINGS = {
    "metadata_max_age_ms": 500,
    "auto_commit_interval_ms": 100,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 200,
}


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--brokers", required=True, help="comma-separated bootstrap servers")
    p.add_argument("--prefix", required=True, help="kafkaesk topic prefix")
    return p.parse_args()


def make_app(args: argparse.Namespace) -> Application:
    return Application(
        kafka_servers=args.brokers.split(","),
        topic_prefix=args.prefix,
        kafka_settings=dict(KAFKA_SETTINGS),
    )


def read_spec() -> dict:
    return json.load(sys.stdin)


def emit(obj: dict) -> None:
    """Print one result line and flush it, so that a Go test reading a
    long-running script sees it at once."""
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def main(coro_fn) -> None:
    """Run an async main with Python's logging on stderr."""
    # kafkaesk 0.8.7 calls pydantic 2's deprecated .dict(), and so do the
    # scripts, to write what kafkaesk writes.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(coro_fn())
