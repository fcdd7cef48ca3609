"""The runners' frames, read on the trusted side: everything a runner sends is untrusted.

A frame (written by :func:`.runner.send`) is ``MAGIC``, a 4-byte big-endian header length, a JSON
header, then the payloads the header announces (a ``result`` header: its bundle's ``json`` and
``npz`` sizes). :func:`read_frames` turns a runner's channel into events on a queue:
``("frame", header, payloads)`` per frame, ``("corrupt", why)`` for anything not in that format,
``("overflow", why)`` past the output limit, and, last, ``("eof", None)``.
"""

from __future__ import annotations

import json
import queue
import struct

from grader.sandbox.bubblewrap import MiB

from .runner import MAGIC

MAX_HEADER_BYTES = 1 << 20


class _EndOfFrames(Exception):
    """The runner's channel is done: at its end, or at what ``event`` (if any) reports."""

    def __init__(self, event: tuple | None = None):
        super().__init__(event)
        self.event = event


def _header_size(head: bytes) -> int:
    """The header length a frame's first 8 bytes announce."""
    if head[:4] != MAGIC:
        raise _EndOfFrames(("corrupt", "the runner's output is not in the expected format"))
    size = struct.unpack(">I", head[4:])[0]
    if size > MAX_HEADER_BYTES:
        raise _EndOfFrames(("corrupt", "a frame header is too large"))
    return size


def _header(raw: bytes) -> tuple[dict, list[int]]:
    """A frame's JSON header and the sizes of the payloads it announces (a result's bundle: json, npz)."""
    try:
        header = json.loads(raw.decode("utf-8"))
        payload_sizes = [int(header.get("json", 0)), int(header.get("npz", 0))] \
            if header.get("kind") == "result" else []
    except (ValueError, AttributeError, TypeError):
        raise _EndOfFrames(("corrupt", "a frame header is not valid JSON")) from None
    if not isinstance(header, dict) or any(s < 0 for s in payload_sizes):
        raise _EndOfFrames(("corrupt", "a malformed frame header"))
    return header, payload_sizes


def _read_exact(channel, count: int) -> bytes:
    """``count`` bytes of ``channel``; :class:`_EndOfFrames` if it ends first."""
    chunks, remaining = [], count
    while remaining:
        chunk = channel.read(min(remaining, 1 << 20))
        if not chunk:
            raise _EndOfFrames()
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frames(channel, limit: int, events: queue.Queue) -> None:
    """Put every frame a runner sends on ``channel`` (untrusted) on ``events``, until it ends, goes wrong
    or passes ``limit`` bytes in all; ``("eof", None)`` comes last."""
    received = 0
    try:
        while True:
            size = _header_size(_read_exact(channel, 8))
            header, payload_sizes = _header(_read_exact(channel, size))
            received += 8 + size + sum(payload_sizes)
            if received > limit:
                raise _EndOfFrames(("overflow", f"the runner sent more than {limit // MiB} MiB"))
            events.put(("frame", header, [_read_exact(channel, s) for s in payload_sizes]))
    except _EndOfFrames as end:
        if end.event is not None:
            events.put(end.event)
    except (OSError, ValueError):
        pass
    finally:
        events.put(("eof", None))
