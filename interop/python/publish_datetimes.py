"""Publish the datetimes Python code sends (issue 14, problem 2): naive
datetime.utcnow(), a naive datetime without microseconds, and an aware UTC
one, in a Stamped model with app.publish.

Spec: {"stream": "s"}

Output, one line:
    {"schema": "Stamped:1", "fields": {"utcnow": {"json": "2024-05-01T12:00:00.123456",
     "unix_micros": 1714564800123456}, ...}}

"json" is the string orjson writes for the field, "unix_micros" the instant
it means, a naive datetime read as UTC.
"""

import datetime

import orjson

import common
from models import Stamped


def unix_micros(dt: datetime.datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    delta = dt - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


async def run() -> None:
    args = common.parse_args(__doc__)
    spec = common.read_spec()
    app = common.make_app(args)
    value = Stamped(
        name="python datetimes",
        utcnow=datetime.datetime.utcnow(),
        naive_whole=datetime.datetime(2024, 5, 1, 12, 0, 0),
        aware=datetime.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=datetime.timezone.utc),
    )
    async with app:
        await app.publish_and_wait(spec["stream"], value)
    common.emit(
        {
            "schema": "Stamped:1",
            "fields": {
                name: {"json": orjson.loads(orjson.dumps(getattr(value, name))), "unix_micros": unix_micros(getattr(value, name))}
                for name in ("utcnow", "naive_whole", "aware")
            },
        }
    )


if __name__ == "__main__":
    common.main(run)
