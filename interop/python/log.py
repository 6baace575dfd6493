"""Log through kafkaesk.ext.logging's PydanticKafkaeskHandler, as a Python
service does, and print what each logging call should produce.

Spec: {"stream": "logs", "logger": "interop.python", "calls": ["exception"]}

"calls" (optional) names the logging calls to make: info, warning,
exception, stack, debug; default all of them.

Logged, in order: an info with a %-argument ("extra") and a UserLog log
model; a warning with logging's extra= (which the handler does not carry);
logger.exception inside `except ValueError`; an error with stack_info; a
debug line. Everything is published before the script exits.

Output, one line per logging call:
    {"message": "...", "logger": "...", "severity": "INFO", "level": 20,
     "exception": null or "ValueError", "stack": null or the traceback,
     "trace_prefix": null or "Stack (most recent call last):", "fields": {...},
     "hostname": "...", "before": unix micros, "after": unix micros}

"fields" are the event's fields beyond the base ones; "before" and "after"
bracket the call (the handler stamps the event with datetime.utcnow()).
"""

import asyncio
import logging
import socket
import sys
import time

from kafkaesk.ext.logging import PydanticKafkaeskHandler

import common
from models import UserLog

_formatter = logging.Formatter()


class Counter:
    """How many events the handler's queue worker published."""

    def __init__(self) -> None:
        self.n = 0
        self.cond = asyncio.Condition()

    async def add(self) -> None:
        async with self.cond:
            self.n += 1
            self.cond.notify_all()

    async def wait_for(self, n: int) -> None:
        async with self.cond:
            await self.cond.wait_for(lambda: self.n >= n)


def now_micros() -> int:
    return time.time_ns() // 1000


async def run() -> None:
    args = common.parse_args(__doc__)
    spec = common.read_spec()
    app = common.make_app(args)
    handler = PydanticKafkaeskHandler(app, spec["stream"])
    published = Counter()
    publish = handler._queue._publish

    async def counted(stream, data) -> None:
        await publish(stream, data)
        await published.add()

    handler._queue._publish = counted
    log = logging.getLogger(spec["logger"])
    log.setLevel(logging.DEBUG)
    log.propagate = False  # only to Kafka, not to the stderr of common.main
    log.addHandler(handler)
    base = {"logger": spec["logger"], "hostname": socket.gethostname()}
    out = []

    def expect(before: int, message: str, severity: str, level: int, **kw) -> None:
        want = dict(base, message=message, severity=severity, level=level, exception=None, stack=None, trace_prefix=None, fields={})
        want.update(kw)
        want.update(before=before, after=now_micros())
        out.append(want)

    calls = spec.get("calls") or ["info", "warning", "exception", "stack", "debug"]

    if "info" in calls:
        t = now_micros()
        log.info("Test Message %s", "extra", UserLog(user="ana", attempts=3))
        expect(t, "Test Message extra", "INFO", 20, fields={"user": "ana", "attempts": 3})

    if "warning" in calls:
        t = now_micros()
        log.warning("careful with %d%%", 3, extra={"request_id": "r-1"})
        expect(t, "careful with 3%", "WARNING", 30)

    if "exception" in calls:
        try:
            raise ValueError("bad value 42")
        except ValueError:
            stack = _formatter.formatException(sys.exc_info())
            t = now_micros()
            log.exception("it failed: %s", "load")
            expect(t, "it failed: load", "ERROR", 40, exception="ValueError", stack=stack)

    if "stack" in calls:
        t = now_micros()
        log.error("where am I", stack_info=True)
        expect(t, "where am I", "ERROR", 40, trace_prefix="Stack (most recent call last):")

    if "debug" in calls:
        t = now_micros()
        log.debug("debug line")
        expect(t, "debug line", "DEBUG", 10)

    # Wait until the handler's worker has handed every event to the
    # producer (counted around its _publish: its queue being empty is not
    # enough, the last event may be in flight), then flush and stop.
    await asyncio.wait_for(published.wait_for(len(out)), 30)
    await app.flush()
    handler.close()
    await app.finalize()
    for want in out:
        common.emit(want)


if __name__ == "__main__":
    common.main(run)
