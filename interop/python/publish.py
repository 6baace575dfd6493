"""Publish pydantic models with kafkaesk's app.publish, as a Python service
does, and print where each landed.

Spec:
    {"schemas": [{"model": "Note", "id": "Note", "version": 1, "retention": 3600}],
     "messages": [{"stream": "s", "model": "Event", "data": {...}, "key": "k" or null}]}

"schemas" (optional) registers models with app.schema first: their key in
the envelope, and the retention of the topics their publish creates.
Every message is published in order and its broker acknowledgement awaited.

Output, one line per message:
    {"stream": "s", "key": "k", "partition": 3, "offset": 0, "schema": "Event:1"}
"""

import common
from models import MODELS


async def run() -> None:
    args = common.parse_args(__doc__)
    spec = common.read_spec()
    app = common.make_app(args)
    for s in spec.get("schemas", []):
        app.schema(s["id"], version=s.get("version"), retention=s.get("retention"))(MODELS[s["model"]])
    async with app:
        for m in spec["messages"]:
            model = MODELS[m["model"]].parse_obj(m["data"])
            key = m.get("key")
            meta = await app.publish_and_wait(m["stream"], model, key=key.encode() if key is not None else None)
            common.emit(
                {
                    "stream": m["stream"],
                    "key": key,
                    "partition": meta.partition,
                    "offset": meta.offset,
                    "schema": getattr(model, "__key__", None) or f"{type(model).__name__}:1",
                }
            )


if __name__ == "__main__":
    common.main(run)
