"""A job name for each imported crontab entry, worked out from its command (issue 14).

Stable (the same crontab gives the same names, byte for byte) and readable: the program's
basename (for an interpreter, its script's) without `.sh`/`.py`, then `_` and the first
later argument that is no option (a path's last part). Leading `cd …`, `test -x …` or
`[ -x … ]` steps, `VAR=value` words and wrappers (nice, nohup, timeout, flock) are passed
over; redirections and whatever follows `|`, `;`, `&&` or `||` are not arguments.
"""

from __future__ import annotations

import re
import shlex

MAX_NAME = 40  # before --prefix and the _N suffix
# Job names the loader accepts (config/_loader.py's rule).
VALID_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,99}")
_INTERPRETER = re.compile(r"(python[0-9.]*|sh|bash|perl|ruby|node|php)")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {"|", ";", "&&", "||", "&", "|&", ";;"}
# Each wrapper: its options that take a value, and how many plain arguments come
# before the command it runs (timeout's duration, flock's lock file).
_WRAPPERS = {
    "nice": ({"-n", "--adjustment"}, 0),
    "nohup": (set(), 0),
    "timeout": ({"-s", "--signal", "-k", "--kill-after"}, 1),
    "flock": ({"-w", "--wait", "--timeout", "-E", "--conflict-exit-code"}, 1),
}
_STEPS = {"cd", "test", "["}  # leading steps passed over when another follows
# Shell words around a command, not part of it: `{ …; }`, `( … )`, `if …; then …; fi`.
_KEYWORDS = {"{", "}", "(", ")", "!", "if", "then", "else", "elif", "fi", "do", "done"}


def _words(command: str) -> list[str]:
    """Shell words and operators (`|`, `&&`, `>`…) of a command; a plain split when
    its quotes do not balance."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return command.split()


def _segments(words: list[str]) -> list[list[str]]:
    """The simple commands between separators, redirections (and their targets) removed."""
    segments: list[list[str]] = [[]]
    skip = False
    for i, word in enumerate(words):
        if skip:
            skip = False
        elif word in _SEPARATORS:
            segments.append([])
        elif word[0] in "<>" or word in {"&>", "&>>", ">&"}:
            skip = True  # the redirection's target
            if segments[-1] and segments[-1][-1].isdigit() and i > 0:
                segments[-1].pop()  # `2>`: the descriptor was read as a word
        elif word in _KEYWORDS or set(word) <= set("()"):
            continue
        else:
            segments[-1].append(word)
    return [s for s in segments if s]


def _unwrap(words: list[str]) -> list[str]:
    """The words from the program on: assignments and wrappers passed over."""
    i = 0
    while i < len(words):
        word = words[i]
        if _ASSIGNMENT.match(word):
            i += 1
            continue
        base = word.rsplit("/", 1)[-1]
        if base not in _WRAPPERS:
            break
        takes_value, plain = _WRAPPERS[base]
        i += 1
        while i < len(words) and words[i].startswith("-") and len(words[i]) > 1:
            i += 2 if words[i] in takes_value else 1
        if base == "flock" and i + 1 < len(words) and words[i + 1] in {"-c", "--command"}:
            return _unwrap(_first_segment(words[i + 2 : i + 3]))
        i += plain
    return words[i:]


def _first_segment(command_words: list[str]) -> list[str]:
    """The words of a `-c` string's first simple command that is no leading step."""
    if not command_words:
        return []
    return _program_segment(_segments(_words(command_words[0])))


def _program_segment(segments: list[list[str]]) -> list[str]:
    for n, segment in enumerate(segments):
        if n + 1 < len(segments) and segment[0] in _STEPS:
            continue
        return segment
    return []


def _script(words: list[str]) -> tuple[str, list[str]] | None:
    """(the program or an interpreter's script, the words after it), or None."""
    if not words:
        return None
    program, rest = words[0], words[1:]
    if not _INTERPRETER.fullmatch(program.rsplit("/", 1)[-1]):
        return program, rest
    for i, word in enumerate(rest):
        if word in {"-c"} and i + 1 < len(rest):
            return _script(_unwrap(_first_segment(rest[i + 1 : i + 2])))
        if word == "-m" and i + 1 < len(rest):
            return rest[i + 1].rsplit(".", 1)[-1], rest[i + 2 :]
        if not word.startswith("-"):
            return word, rest[i + 1 :]
    return program, rest


def _last_part(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or path


def base_name(command: str) -> str:
    """The name a command suggests, before --prefix and the _N suffix (≤ MAX_NAME)."""
    found = _script(_unwrap(_program_segment(_segments(_words(command)))))
    if found is None:
        return "job"
    script, rest = found
    name = _last_part(script)
    for suffix in (".sh", ".py"):
        name = name.removesuffix(suffix)
    argument = next((w for w in rest if not w.startswith("-")), None)
    if argument is not None and _last_part(argument):
        name = f"{name}_{_last_part(argument)}"
    name = re.sub(r"[^a-z0-9_-]", "_", name.lower())[:MAX_NAME]
    if not name or name[0] == "-":
        name = f"_{name}"[:MAX_NAME]
    return name


def unique_names(commands: list[str], prefix: str = "") -> list[str]:
    """A name for each command, in order; a taken one gets `_2`, `_3`, …"""
    taken: set[str] = set()
    names = []
    for command in commands:
        base = prefix + base_name(command)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names.append(name)
    return names
