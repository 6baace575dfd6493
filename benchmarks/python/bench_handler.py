"""Python kafkaesk's logging handler as a contender of benchmarks/: the
same event, timed per call and end to end, printed as `go test -bench`
lines that cmd/ratios merges into its tables.

    py="$(scripts/python-env)"
    "$py" benchmarks/python/bench_handler.py --brokers 127.0.0.1:9092 \
        [--broker-pid PID] [--events 50000] >>comparison.txt

The event is benchmarks/event.go's: the message "request served", the
service and version a service binds once (Go: Logger.With), five
attributes and a log model. kafkaesk.ext.logging's handler carries only
log models' fields (logging's extra= is dropped), so the call passes three
log models: the bound one (made once), the five attributes and the
request. Through the handler it is the JSON envelope sloghandler sends,
with the same fields ("took" in nanoseconds, as Go's Duration): 406 bytes
against sloghandler's 440, whose timestamp ends in Z and which keeps the
base field service beside the bound one (as fields.service), where
kafkaesk lets a log model's field replace a base field.

Per call (BenchmarkPerCall/h=python-kafkaesk): what the calling thread
pays for logger.info, models included, as Go's BenchmarkPerCall times a
call. Rounds of 5,000 calls (the handler's queue holds 10,000, and a full
queue would drop calls) run without yielding to the event loop, so the
queue's worker does not run in between; the queue is emptied between
rounds, outside the clock.

End to end (BenchmarkEndToEnd/c=python-kafkaesk): from the first call to
the broker's acknowledgement of the last of --events events, on a new
topic of 4 partitions. The handler's queue drops calls when full, so the
logging task waits (yields to the event loop) while it is full, as
sloghandler's WhenFull: Block holds its callers. The handler's worker
publishes without waiting for acknowledgements; the script counts them
with a callback on each send's future, and stops the clock when all are
in. It fails (exit 1) unless every event was acknowledged and the topic
holds them all. CPU per event is this process's CPU time (user and
system, every thread) over the run, plus the broker process's when
--broker-pid is given (read from /proc): Go's end to end counts its
in-process broker the same way.

Output: two lines in `go test -bench` format, GOMAXPROCS suffix from
os.cpu_count(). Progress goes to stderr.
"""

import argparse
import asyncio
import logging
import os
import sys
import time
import uuid
import warnings

import kafka
from kafkaesk import Application
from kafkaesk.ext.logging import PydanticKafkaeskHandler
from kafkaesk.ext.logging import PydanticLogModel

NAME = "python-kafkaesk"
STREAM = "bench.logs"
PARTITIONS = 4  # as benchmarks/'s topics
ROUND = 5_000  # per-call calls between two emptyings of the queue


class Bound(PydanticLogModel):
    """What a service binds once (Go: Logger.With)."""

    _is_log_model = True
    service: str
    version: str


class Attrs(PydanticLogModel):
    """The call's five attributes."""

    _is_log_model = True
    user: str
    items: int
    took: int  # nanoseconds, as Go's time.Duration
    cached: bool
    ratio: float


class RequestLog(PydanticLogModel):
    """The call's log model (benchmarks.RequestLog)."""

    _is_log_model = True
    method: str
    path: str
    status: int


BOUND = Bound(service="checkout", version="1.4.2")


def log_event(log: logging.Logger) -> None:
    """benchmarks.Log's call."""
    log.info(
        "request served",
        BOUND,
        Attrs(user="ana", items=3, took=1_500_000, cached=True, ratio=0.75),
        RequestLog(method="POST", path="/api/v1/orders", status=201),
    )


def note(msg: str) -> None:
    print(f"bench_handler: {msg}", file=sys.stderr, flush=True)


class BrokerCPU:
    """CPU seconds (user and system) of another process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            stat = f.read()
        # Fields after the command (in parentheses, which may hold spaces):
        # utime and stime are the 14th and 15th of the line.
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / self.tick


def new_logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    return log


def per_call(app: Application, seconds: float) -> tuple:
    """Rounds of ROUND calls until `seconds` of calls are timed; returns
    (calls, ns per call). The handler's worker never runs: nothing here
    yields to the event loop, and close() cancels it before its start."""
    handler = PydanticKafkaeskHandler(app, STREAM)
    log = new_logger("bench.percall", handler)
    log_event(log)  # starts the worker task and makes the queue
    queue = handler._queue._queue
    calls, timed = 0, 0
    while timed < seconds * 1e9:
        while not queue.empty():
            queue.get_nowait()
        t = time.perf_counter_ns()
        for _ in range(ROUND):
            log_event(log)
        timed += time.perf_counter_ns() - t
        if queue.qsize() < ROUND:
            raise SystemExit(f"per call: the queue holds {queue.qsize()} of {ROUND} calls: some were dropped")
        calls += ROUND
    while not queue.empty():
        queue.get_nowait()
    log.removeHandler(handler)
    handler.close()
    return calls, timed / calls


class Tally:
    """Outcomes of the producer's sends, and a wait for n of them."""

    def __init__(self) -> None:
        self.acked = 0
        self.failed = 0
        self.error = None
        self.want = -1
        self.done = asyncio.Event()

    def on_done(self, fut: asyncio.Future) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self.failed += 1
            self.error = self.error or (fut.exception() if not fut.cancelled() else "cancelled")
        else:
            self.acked += 1
        if self.acked + self.failed == self.want:
            self.done.set()


def stored(brokers: list, topic: str) -> int:
    """How many records the topic holds (the sum of its end offsets)."""
    c = kafka.KafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False)
    try:
        parts = c.partitions_for_topic(topic) or set()
        ends = c.end_offsets([kafka.TopicPartition(topic, p) for p in parts])
        return sum(ends.values())
    finally:
        c.close()


async def end_to_end(brokers: list, n: int, broker: "BrokerCPU | None") -> tuple:
    """Ships n events through the handler; returns (seconds, CPU seconds,
    the broker's share of them)."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    app = Application(kafka_servers=brokers, topic_prefix=prefix)
    await app.initialize()
    topic = app.topic_mng.get_topic_id(STREAM)
    await app.topic_mng.create_topic(topic, partitions=PARTITIONS)

    tally = Tally()
    tally.want = n
    publish = app.publish

    async def counted(*args, **kwargs):
        fut = await publish(*args, **kwargs)
        fut.add_done_callback(tally.on_done)
        return fut

    app.publish = counted
    handler = PydanticKafkaeskHandler(app, STREAM)
    log = new_logger("bench.e2e", handler)
    # One event first, outside the clock, so that the producer is started
    # and the topic known, as the Go shippers are opened before theirs.
    tally.want = 1
    log_event(log)
    await asyncio.wait_for(tally.done.wait(), 30)
    tally.want, tally.acked, tally.done = n, 0, asyncio.Event()

    q = handler._queue._queue
    full = q.maxsize
    cpu0, bcpu0 = time.process_time(), broker.seconds() if broker else 0
    t0 = time.perf_counter()
    for _ in range(n):
        while q.qsize() >= full:
            await asyncio.sleep(0)  # the handler would drop: wait for room
        log_event(log)
    await asyncio.wait_for(tally.done.wait(), 300)
    elapsed = time.perf_counter() - t0
    bcpu = (broker.seconds() if broker else 0) - bcpu0
    cpu = time.process_time() - cpu0 + bcpu

    log.removeHandler(handler)
    handler.close()
    await app.finalize()
    if tally.acked != n or tally.failed:
        raise SystemExit(f"end to end: {tally.acked} of {n} events acknowledged, {tally.failed} failed: {tally.error}")
    held = stored(brokers, topic)
    if held != n + 1:
        raise SystemExit(f"end to end: the topic holds {held} events, want {n + 1}")
    return elapsed, cpu, bcpu


async def run(args: argparse.Namespace) -> None:
    brokers = args.brokers.split(",")
    broker = BrokerCPU(args.broker_pid) if args.broker_pid else None
    procs = os.cpu_count() or 1

    app = Application(kafka_servers=brokers, topic_prefix="bench-percall.")
    calls, ns = per_call(app, args.per_call_seconds)
    note(f"per call: {calls} calls, {ns:.0f} ns each")
    print(f"BenchmarkPerCall/h={NAME}-{procs}\t{calls}\t{ns:.0f} ns/op", flush=True)

    elapsed, cpu, bcpu = await end_to_end(brokers, args.events, broker)
    n = args.events
    note(f"end to end: {n} events in {elapsed:.1f} s, {cpu:.1f} CPU s" + (f", the broker's {bcpu:.1f} s of them" if broker else ""))
    print(
        f"BenchmarkEndToEnd/c={NAME}-{procs}\t{n}\t{elapsed * 1e9 / n:.0f} ns/op"
        f"\t{cpu * 1e6 / n:.1f} cpu-µs/event\t{n / elapsed:.0f} events/s",
        flush=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brokers", required=True, help="comma-separated bootstrap servers")
    p.add_argument("--broker-pid", type=int, default=0, help="the broker's process, whose CPU counts per event")
    p.add_argument("--events", type=int, default=50_000, help="events end to end (default 50,000)")
    p.add_argument("--per-call-seconds", type=float, default=2.0, help="time of the timed calls (default 2)")
    args = p.parse_args()
    # kafkaesk 0.8.7 calls pydantic 2's deprecated .dict() on every event;
    # the warning is ignored, as a service would.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
