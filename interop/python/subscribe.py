"""Consume a stream with kafkaesk's @app.subscribe and a pydantic model, as
a Python service does, and print what each message decoded to.

Spec:
    {"stream": "s", "group": "g", "model": "Event", "count": 3, "timeout": 30}

consume_for stops after count messages (skipped ones included) or timeout
seconds, whichever comes first.

Output, one line per message handled:
    {"schema": "Event:1", "data": {...model.dict()...}, "partition": 0, "offset": 0,
     "key": "k" or null, "value": base64 of the record value,
     "kafkaesk": base64 of what kafkaesk's publish writes for this model value,
     "orjson": base64 of orjson's encoding of the value's JSON,
     "headers": [[key, value decoded as UTF-8], ...] as the record has them}

"kafkaesk" is orjson.dumps({"schema": schema, "data": model.dict()}), the
bytes app.publish sends; "orjson" is orjson.dumps(orjson.loads(value)), the
same JSON values written by orjson, member order kept.
"""

import json

import aiokafka
import orjson

import common
from models import MODELS


async def run() -> None:
    args = common.parse_args(__doc__)
    spec = common.read_spec()
    app = common.make_app(args)
    model = MODELS[spec["model"]]

    async def handle(data: model, schema: str, record: aiokafka.ConsumerRecord) -> None:  # type: ignore
        common.emit(
            {
                "schema": schema,
                "data": json.loads(orjson.dumps(data.dict())),
                "partition": record.partition,
                "offset": record.offset,
                "key": record.key.decode() if record.key is not None else None,
                "value": common.b64(record.value),
                "kafkaesk": common.b64(orjson.dumps({"schema": schema, "data": data.dict()})),
                "orjson": common.b64(orjson.dumps(orjson.loads(record.value))),
                "headers": [[k, v.decode()] for k, v in (record.headers or [])],
            }
        )

    app.subscribe(spec["stream"], spec["group"])(handle)
    async with app:
        n = await app.consume_for(spec["count"], seconds=spec["timeout"])
    if n < spec["count"]:
        raise SystemExit(f"consumed {n} of {spec['count']} messages in {spec['timeout']} s")


if __name__ == "__main__":
    common.main(run)
