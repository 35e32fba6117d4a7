"""How job payloads are stored in Redis: pickle (RQ's default) or JSON."""

from __future__ import annotations

from rq.serializers import DefaultSerializer, JSONSerializer, Serializer

SERIALIZERS: dict[str, type[Serializer]] = {"pickle": DefaultSerializer, "json": JSONSerializer}


def serializer_for(name: str) -> type[Serializer]:
    """The RQ serializer class for a ``jobs.serializer`` setting (validated at start-up)."""
    return SERIALIZERS[name]
