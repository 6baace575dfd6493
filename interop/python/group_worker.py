"""A kafkaesk worker in a consumer group, as a Python service runs one:
@app.subscribe(stream, group) with a Note model, run by kafkaesk's run_app
until SIGINT or SIGTERM stops it (exit 0 after a clean stop).

Spec: {"stream": "work", "group": "g", "worker": "py-1"}

Output, one line per message handled, printed as it is handled:
    {"worker": "py-1", "id": "n-7", "partition": 3, "offset": 1}
"""

import aiokafka
from kafkaesk.app import run_app

import common
from models import Note


async def run() -> None:
    args = common.parse_args(__doc__)
    spec = common.read_spec()
    app = common.make_app(args)

    @app.subscribe(spec["stream"], spec["group"])
    async def handle(data: Note, record: aiokafka.ConsumerRecord) -> None:
        common.emit({"worker": spec["worker"], "id": data.id, "partition": record.partition, "offset": record.offset})

    await run_app(app)


if __name__ == "__main__":
    common.main(run)
