"""The pydantic models the interop tests exchange with Go, each mirrored
by a Go struct in interop/*_test.go with the same fields in the same order
(so that the JSON each side writes has the same member order).
"""

import datetime
from typing import Dict
from typing import List
from typing import Optional

import pydantic
from kafkaesk.ext.logging import PydanticLogModel


class Address(pydantic.BaseModel):
    street: str
    city: str


class Event(pydantic.BaseModel):
    """Every kind of JSON value: Go's interop.Event."""

    text: str
    count: int
    ratio: float
    ok: bool
    nothing: Optional[str] = None
    tags: List[str]
    address: Address
    attrs: Dict[str, int]
    unicode: str


class ContentV2(pydantic.BaseModel):
    """Content:1 as a newer Python deploy writes it: one field more than
    Go's ContentV1 (issue 14, problem 1)."""

    id: str
    title: str
    added: Dict[str, List[int]]


class Stamped(pydantic.BaseModel):
    """The datetimes Python code sends (issue 14, problem 2)."""

    name: str
    utcnow: datetime.datetime
    naive_whole: datetime.datetime
    aware: datetime.datetime


class Note(pydantic.BaseModel):
    """A small event for the topic, partition and group tests."""

    id: str
    by: str


class UserLog(PydanticLogModel):
    """A log model: passed as an argument of a logging call, its fields
    join the log event (kafkaesk.ext.logging's record factory)."""

    _is_log_model = True
    user: str
    attempts: int


MODELS = {m.__name__: m for m in (Event, ContentV2, Stamped, Note, PydanticLogModel)}
