"""Where in a TOML file a table or key was written, for `FILE:LINE:` messages.

tomllib returns plain dicts with no positions, so config.py keeps the source
text and asks this scanner instead. It is deliberately small: it recognises
`[table]` / `[[table]]` headers and `key = ...` lines (bare, quoted and dotted
keys), and skips the inside of strings and multi-line arrays, so a line
`foo = 1` inside a multi-line `command` string is not mistaken for a key.
Keys written inside inline tables are not located; lookups then fall back to
the nearest enclosing key or header, which is on the right line or above it.
"""

from __future__ import annotations

import re
import tomllib

_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"(?:[^"\\\n]|\\.)*"'
_LITERAL = r"'[^'\n]*'"
_PART = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER_RE = re.compile(rf"\s*(\[\[?)\s*({_DOTTED})\s*\]\]?")
_KEY_RE = re.compile(rf"\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_PART)
_SPECIAL_RE = re.compile(r"[#\"'\[\]{}]")  # where a value's text can change the state
_LINE_START_HEADER_RE = re.compile(r"^[^\S\n]*\[", re.M)
# What a quick pass over the headers could miscount or miss: multi-line strings, and
# line breaks other than \n and \r\n (splitlines counts them; a lone \r is checked apart).
_NOT_HEADERS_ONLY = ('"""', "'''", *"\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029")
_BASIC_REST_RE = re.compile(r'(?:[^"\\]|\\.)*"')  # the rest of a "..." string
_MULTI_BASIC_REST_RE = re.compile(r'(?:[^"\\]|\\.|")*?"""')  # the first unescaped """

KeyPath = tuple[str, ...]


def _split_key(dotted: str) -> KeyPath:
    """`jobs."my job".env` -> ("jobs", "my job", "env"), decoding quoted parts."""
    parts = []
    for raw in _PART_RE.findall(dotted):
        if raw.startswith('"'):
            # Escapes (\u00e9, \") are rare in keys; let tomllib decode them exactly.
            parts.append(raw[1:-1] if "\\" not in raw else next(iter(tomllib.loads(f"{raw}=0"))))
        elif raw.startswith("'"):
            parts.append(raw[1:-1])
        else:
            parts.append(raw)
    return tuple(parts)


class KeyLines:
    """Maps table and key paths of one TOML document to the line they first appear on."""

    def __init__(self, text: str) -> None:
        # Scanned at the first `line_of`: a valid file asks for no line at all, and
        # the scan is a good part of loading 1,000 jobs.
        self._text: str | None = text
        self._source = text
        self._first: dict[KeyPath, int] = {}
        self._children: dict[str, dict[str, int] | None] = {}

    def line_of(self, *path: str) -> int | None:
        """Line of the deepest written prefix of `path` (the key, else its table)."""
        if self._text is not None:
            self._scan(self._text)
            self._text = None
        for end in range(len(path), 0, -1):
            line = self._first.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def table_line(self, table: str, name: str) -> int | None:
        """`line_of(table, name)`, from one quick pass over the file's headers when that
        gives the same line: a valid file asks it of every job, and the full scan is a
        good part of loading 1,000 (issue 12)."""
        if table not in self._children:
            self._children[table] = _child_header_lines(self._source, table)
        found = self._children[table]
        line = None if found is None else found.get(name)
        return self.line_of(table, name) if line is None else line

    def _note(self, path: KeyPath, line: int) -> None:
        for end in range(1, len(path) + 1):
            self._first.setdefault(path[:end], line)

    def _scan(self, text: str) -> None:
        table: KeyPath = ()
        open_string: str | None = None  # '"""' or "'''" while inside a multi-line string
        depth = 0  # brackets and braces open across lines (multi-line arrays)
        for number, line in enumerate(text.splitlines(), start=1):
            pos = 0
            if open_string is None and depth == 0:
                header = _HEADER_RE.match(line)
                key = _KEY_RE.match(line)
                if header and not key:
                    table = _split_key(header.group(2))
                    self._note(table, number)
                    continue
                if key:
                    self._note(table + _split_key(key.group(1)), number)
                    pos = key.end()
            open_string, depth = _skip_values(line, pos, open_string, depth)


def _child_header_lines(text: str, table: str) -> dict[str, int] | None:
    """The line of the first `[table.NAME...]` header of each NAME; None when a key
    line could name NAME before its header, or lines could be miscounted."""
    # str searches: one regex over the text took 2.5 ms at 1,000 jobs
    if any(s in text for s in _NOT_HEADERS_ONLY) or text.count("\r") != text.count("\r\n"):
        return None
    starts = [found.start() for found in _LINE_START_HEADER_RE.finditer(text)]
    root = text[: starts[0] if starts else len(text)]
    if re.search(rf"^[^\S\n]*[\"']?{re.escape(table)}", root, re.M):
        return None  # a root-level key such as `jobs.x.env.A = "1"` may come first
    first: dict[str, int] = {}
    line, counted = 1, 0
    for start in starts:
        line += text.count("\n", counted, start)
        counted = start
        end = text.find("\n", start)
        header = _HEADER_RE.match(text[start : None if end < 0 else end])
        if header is None:
            continue
        path = _split_key(header.group(2))
        if path == (table,):
            return None  # [jobs] may hold `x.env.A = "1"` before [jobs.x.alerts]
        if len(path) > 1 and path[0] == table:
            first.setdefault(path[1], line)
    return first


def _skip_values(
    line: str, pos: int, open_string: str | None, depth: int
) -> tuple[str | None, int]:
    """Walk a line's value text; return the string/bracket state at its end. Jumps from
    one character that matters (quote, bracket, comment) to the next."""
    n = len(line)
    while pos < n:
        if open_string is not None:
            end = _find_close(line, pos, open_string)
            if end < 0:
                return open_string, depth
            pos, open_string = end, None
            continue
        found = _SPECIAL_RE.search(line, pos)
        if found is None:
            break
        pos = found.start()
        ch = line[pos]
        if ch == "#":
            break
        if line.startswith('"""', pos) or line.startswith("'''", pos):
            open_string = line[pos : pos + 3]
            pos += 3
        elif ch in "\"'":
            end = _find_close(line, pos + 1, ch)
            pos = n if end < 0 else end
        else:
            depth = depth + 1 if ch in "[{" else max(0, depth - 1)
            pos += 1
    return open_string, depth


def _find_close(line: str, pos: int, quote: str) -> int:
    """Index just past the closing `quote` (honouring backslashes in basic strings), or -1."""
    if quote[0] == "'":
        end = line.find(quote, pos)
        return -1 if end < 0 else end + len(quote)
    closed = (_BASIC_REST_RE if quote == '"' else _MULTI_BASIC_REST_RE).match(line, pos)
    return -1 if closed is None else closed.end()
