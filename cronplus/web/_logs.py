"""A run's log as the pages read it: its tail, read from the file's end (a 50 MB log
costs one read of at most `TAIL_BYTES`, never the whole file), and a byte range for
the raw log and a page following a running run. Bytes that are not UTF-8 are
replaced; a range never ends inside a character, so the next one starts on its first
byte and a follower never shows a character split in two."""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cronplus._logcap import read_present  # a running capped log's hole: one marker line
from cronplus.web._http import HttpError, Response

TAIL_LINES = 1_000
TAIL_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Tail:
    text: str  # the last lines, decoded
    start: int  # the byte where they begin: 0 when the whole file is shown
    end: int  # the bytes read up to: where a follower goes on from
    lines: int  # how many lines `text` holds


def tail(
    path: str, lines: int = TAIL_LINES, max_bytes: int = TAIL_BYTES, *, going: bool = True
) -> Tail:
    """The last `lines` lines of the file, at most `max_bytes` of them (then from the
    first line that begins within them, or mid-line when none does). While the attempt
    is `going`, a character whose last bytes are not written yet is left for later;
    once it ended, such bytes are what the log holds, and are shown (replaced). Raises
    OSError (FileNotFoundError when the log is gone)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        begin = max(0, size - max_bytes)
        f.seek(begin)
        data, end = b"", begin
        while end < size and (part := read_present(f, size - end))[1]:
            data, end = data + part[0], end + part[1]
    cut = _tail_start(data, lines, whole=begin == 0)
    data = _whole_chars(data[cut:])
    body = data[: len(data) - _partial_end(data)] if going else data
    text = body.decode("utf-8", "replace")
    count = text.count("\n") + (0 if not text or text.endswith("\n") else 1)
    return Tail(text, end - len(data), end - (len(data) - len(body)), count)


def _tail_start(data: bytes, lines: int, whole: bool) -> int:
    """Where the last `lines` lines of `data` begin. A final newline ends the last
    line; it does not begin one more."""
    pos = len(data) - 1 if data.endswith(b"\n") else len(data)
    for _ in range(lines):
        pos = data.rfind(b"\n", 0, pos)
        if pos < 0:
            if whole:
                return 0
            first = data.find(b"\n")  # cut by max_bytes: begin at a line's start if one does
            return 0 if first < 0 or first + 1 >= len(data) else first + 1
    return pos + 1


def _whole_chars(data: bytes) -> bytes:
    """`data` without the continuation bytes of a character cut at its start."""
    skip = 0
    while skip < min(3, len(data)) and data[skip] & 0xC0 == 0x80:
        skip += 1
    return data[skip:]


def _partial_end(data: bytes) -> int:
    """How many bytes at the end of `data` begin a UTF-8 character whose rest is not
    written yet (0 to 3): a follower reads them with the rest, next time."""
    for back in range(1, min(4, len(data)) + 1):
        b = data[-back]
        if b & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for its lead
        need = 2 if b & 0xE0 == 0xC0 else 3 if b & 0xF0 == 0xE0 else 4 if b & 0xF8 == 0xF0 else 1
        return back if need > back else 0
    return 0


CHUNK = 64 * 1024


class RangeStream:
    """The bytes of a log from `start` to `end`, read `CHUNK` at a time, bytes that are
    not UTF-8 replaced as they go (an incremental decoder: a character cut by a chunk
    is whole in the output). A WSGI body: iterated, then `close`d."""

    def __init__(self, f: BinaryIO, start: int, end: int) -> None:
        self._f, self._left = f, end - start
        f.seek(start)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def __iter__(self) -> Iterator[bytes]:
        try:
            while self._left > 0:
                data, used = read_present(self._f, min(CHUNK, self._left))
                if not used:
                    break  # the file was cut short while read
                self._left -= used
                yield self._decoder.decode(data).encode("utf-8")
            yield self._decoder.decode(b"", final=True).encode("utf-8")
        finally:
            self.close()

    def close(self) -> None:
        self._f.close()


def open_range(path: str, offset: int = 0, *, going: bool = True) -> tuple[RangeStream, int]:
    """(the log from byte `offset` to its end as it is now, the byte to ask from next).
    While the attempt is `going`, a character whose last bytes are not written yet is
    left for the next read; an offset past the end reads nothing. Raises OSError
    (FileNotFoundError when gone)."""
    f = open(path, "rb")  # noqa: SIM115 (the stream closes it)
    try:
        size = os.fstat(f.fileno()).st_size
        offset = min(offset, size)
        f.seek(max(offset, size - 4))
        end = size - _partial_end(f.read()) if going else size
    except BaseException:
        f.close()
        raise
    return RangeStream(f, offset, end), end


def read_range(path: str, offset: int = 0, *, going: bool = True) -> tuple[str, int]:
    """`open_range`'s text whole, for a caller that wants it so."""
    stream, end = open_range(path, offset, going=going)
    return b"".join(stream).decode("utf-8"), end


def raw_log_response(path: str, offset: int, *, going: bool, what: str) -> Response:
    """A log as text/plain from byte `offset`, streamed a chunk at a time (a 200 MB log
    never sits whole in the server's memory); `X-Next-Offset` says where to ask from
    next. `what` names the log in the 404 or 503 answer."""
    try:
        stream, nxt = open_range(path, offset, going=going)
    except FileNotFoundError:
        raise HttpError(404, f"the log of {what} is gone ({path})") from None
    except OSError as e:
        raise HttpError(503, f"the log of {what} cannot be read: {e}") from None
    return Response(
        200,
        content_type="text/plain; charset=utf-8",
        headers=[("X-Next-Offset", str(nxt))],
        stream=stream,
    )
