"""Lists served a page at a time: ``limit`` and ``offset`` in, ``total`` and the next
offset out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


#: a list given as ``a,b`` (or a repeated parameter, joined by the web layer)
CommaList = Annotated[list[str], BeforeValidator(_split),
                      WithJsonSchema({"type": "string", "description": "comma-separated"})]


class PageQuery(BaseModel):
    """``limit`` (1-10000, default 500) and ``offset`` of a list."""

    model_config = {"extra": "forbid"}

    limit: int = Field(500, ge=1, le=10000, description="items per page")
    #: bounded so that offset + limit stays a 64-bit integer where a store is asked
    offset: int = Field(0, ge=0, le=10**12, description="items to skip")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list: the items, how many there are in all, where the next page starts."""

    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None

    @classmethod
    def of(cls, items: Sequence[T], query: PageQuery) -> Page[T]:
        """The page of ``items`` (all of them, in order) that ``query`` asks for."""
        end = query.offset + query.limit
        return cls(items=list(items[query.offset:end]), total=len(items), limit=query.limit,
                   offset=query.offset, next_offset=end if end < len(items) else None)
