"""`cronplus import-crontab`: a crontab read as cronie reads it, as a jobs file (issue 14).

Nothing is dropped in silence: every line that is no comment, blank, variable or
importable entry comes back as `FILE:LINE: left out: REASON: LINE`, and every caveat as
`FILE:LINE: note: …`. The jobs keep the crontab's line order; a setting every job shares
goes once into `[defaults]` or `[alerts]`. Only the crontab's own variables are imported:
nothing is added for cron's defaults (PATH, the zone, the owner's mail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from cronplus.crontab_names import VALID_NAME, unique_names
from cronplus.errors import UsageError

_ALIASES = {
    "@yearly": "@yearly",
    "@annually": "@yearly",
    "@monthly": "@monthly",
    "@weekly": "@weekly",
    "@daily": "@daily",
    "@midnight": "@daily",
    "@hourly": "@hourly",
    "@reboot": "@reboot",  # kept: cronplus runs it at each daemon start
}
# cronie's load_env: a name (quoted, or up to a blank or "="), blanks, "=", the value.
_VARIABLE = re.compile(r"""\s*(?:"([^"]*)"|'([^']*)'|([^\s="']+))\s*=\s*(.*)""")
_HEADER = re.compile(r"#\s*m\s+h\s+dom\s+mon\s+dow\s+(?:user\s+)?command\s*")
_LOOKS_LIKE_ENTRY = re.compile(r"\s*[@0-9*?]")


@dataclass(frozen=True, slots=True)
class Entry:
    """One crontab entry, with the variables and comments in force above it."""

    line: int
    schedule: str
    command: str
    stdin: str | None
    user: str | None
    env: tuple[tuple[str, str], ...]
    timezone: str | None
    shell: str | None
    mailto: tuple[str, ...] | None  # None: no MAILTO above it; (): MAILTO=""
    description: str | None


@dataclass
class Crontab:
    """What a crontab's text gave: its entries and a message per line not imported."""

    entries: list[Entry] = field(default_factory=list)
    messages: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    left_out: int = 0  # lines not imported


@dataclass
class _Scope:
    """The variables and comment block in force at a line."""

    env: dict[str, str] = field(default_factory=dict)
    cron_tz: str | None = None  # CRON_TZ: the schedule's zone
    tz: str | None = None  # TZ: the schedule's zone too, unless CRON_TZ is set
    shell: str | None = None
    mailto: tuple[str, ...] | None = None
    comments: list[str] = field(default_factory=list)


def split_percent(command: str) -> tuple[str, str | None]:
    """cron's `%` rule: `\\%` is a `%`; the first unescaped `%` ends the command and the
    rest is fed to its stdin, each later unescaped `%` a newline, plus the final newline
    cronie adds. (command, None) when there is no unescaped `%`."""
    parts: list[list[str]] = [[]]
    i = 0
    while i < len(command):
        ch = command[i]
        if ch == "\\" and command[i + 1 : i + 2] == "%":
            parts[-1].append("%")
            i += 2
            continue
        if ch == "%":
            parts.append([])
        else:
            parts[-1].append(ch)
        i += 1
    if len(parts) == 1:
        return command.replace("\\%", "%"), None
    return "".join(parts[0]), "\n".join("".join(p) for p in parts[1:]) + "\n"


def _variable(text: str) -> tuple[str, str] | None:
    """(name, value) if cronie reads the line as a variable, matching quotes stripped."""
    found = _VARIABLE.fullmatch(text)
    if found is None:
        return None
    name = next(g for g in found.groups()[:3] if g is not None)
    value = found.group(4).rstrip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return (name, value) if name else None


def mail_url(addresses: tuple[str, ...]) -> str:
    """A MAILTO's addresses as an apprise URL; its SMTP host is for the user to fill in."""
    return "mailto://localhost:25?to=" + quote(",".join(addresses), safe="@,+")


def _schedule_problem(schedule: str) -> str | None:
    """Why cronplus refuses a schedule (its validate's words), or None."""
    from cronplus.schedule import ScheduleError, fires_ever, is_reboot, parse_schedule

    if is_reboot(schedule):
        return None
    try:
        parsed = parse_schedule(schedule)
    except ScheduleError as exc:
        return f'schedule "{schedule}": {exc}'
    if not fires_ever(parsed):
        return f'schedule "{schedule}" never fires'
    return None


def _entry_parts(text: str, system: bool) -> tuple[str, str | None, str] | str:
    """(schedule, user, command) of an entry line, or why it is none."""
    words = text.split(None, 1)
    if words[0].startswith("@"):
        if words[0] not in _ALIASES:
            return f'"{words[0]}" is no schedule cron knows'
        schedule, rest = _ALIASES[words[0]], words[1:]
    else:
        words = text.split(None, 5)
        schedule, rest = " ".join(words[:5]), words[5:]
        if len(words) < 5:
            return f'schedule "{schedule}": an entry needs 5 fields and a command'
    problem = _schedule_problem(schedule)
    if problem is not None:
        return problem
    user = None
    if system and rest:
        user, *rest = rest[0].split(None, 1)
    if not rest or not rest[0].strip():
        return "no command"
    return schedule, user, rest[0]


class _Reader:
    """One pass over a crontab's lines, as cronie's load_user reads them."""

    def __init__(self, display: str, system: bool) -> None:
        self.display = display
        self.system = system
        self.scope = _Scope()
        self.out = Crontab()

    def leave_out(self, n: int, reason: str, text: str) -> None:
        self.out.messages.append((n, f"{self.display}:{n}: left out: {reason}: {text}"))
        self.out.left_out += 1

    def note(self, n: int, text: str) -> None:
        self.out.messages.append((n, f"{self.display}:{n}: note: {text}"))

    def line(self, n: int, raw: str) -> None:
        text = raw.strip()
        if not text:
            self.scope.comments = []
        elif text.startswith("#"):
            if _HEADER.fullmatch(text):
                self.scope.comments = []
            elif text.lstrip("#").strip():
                self.scope.comments.append(text.lstrip("#").strip())
        elif (variable := _variable(text)) is not None and not _LOOKS_LIKE_ENTRY.match(text):
            self.variable(n, *variable)
            self.scope.comments = []
        elif not _LOOKS_LIKE_ENTRY.match(text):
            self.leave_out(n, "not a comment, variable or entry", text)
            self.scope.comments = []
        else:
            self.entry(n, text)
            self.scope.comments = []

    def variable(self, n: int, name: str, value: str) -> None:
        scope = self.scope
        if name == "CRON_TZ":
            scope.cron_tz = value or None
        elif name == "SHELL":
            scope.shell = value or None
        elif name == "MAILTO":
            scope.mailto = tuple(a.strip() for a in value.split(",") if a.strip())
            if scope.mailto:
                self.note(
                    n, f"MAILTO: alerts go to {mail_url(scope.mailto)}: fill in your SMTP host"
                )
        else:
            if name == "TZ":
                scope.tz = value or None
            scope.env[name] = value

    def entry(self, n: int, text: str) -> None:
        from cronplus.config._values import is_zone

        parts = _entry_parts(text, self.system)
        if isinstance(parts, str):
            self.leave_out(n, parts, text)
            return
        schedule, user, raw_command = parts
        zone = self.scope.cron_tz or self.scope.tz
        if zone is not None and not is_zone(zone):
            self.leave_out(n, f'time zone "{zone}" is unknown', text)
            return
        command, stdin = split_percent(raw_command)
        if not command.strip():
            self.leave_out(n, "no command", text)
            return
        scope = self.scope
        self.out.entries.append(
            Entry(
                line=n,
                schedule=schedule,
                command=command.strip(),
                stdin=stdin,
                user=user,
                env=tuple(scope.env.items()),
                timezone=zone,
                shell=scope.shell,
                mailto=scope.mailto,
                description=" ".join(scope.comments) or None,
            )
        )


def read_crontab(text: str, display: str, *, system: bool = False) -> Crontab:
    """A crontab's entries and its messages, in line order."""
    reader = _Reader(display, system)
    for n, raw in enumerate(text.splitlines(), 1):
        reader.line(n, raw)
    out = reader.out
    unmailed = next((e for e in out.entries if e.mailto is None), None)
    if unmailed is not None:
        reader.note(
            unmailed.line,
            "no MAILTO above this entry: cron would mail the crontab's owner; "
            "cronplus alerts nobody for it (set [alerts] urls)",
        )
    user = next((e for e in out.entries if e.user), None)
    if user is not None:
        reader.note(
            user.line,
            'the user column goes into "user": a job runs as its user when cronplus '
            "runs as root (as cron does), else only as cronplus's own user",
        )
    out.messages.sort(key=lambda m: m[0])
    return out


def _job(entry: Entry) -> dict[str, object]:
    job: dict[str, object] = {}
    if entry.description:
        job["description"] = entry.description
    job["schedule"] = entry.schedule
    job["command"] = entry.command
    optional = {"stdin": entry.stdin, "user": entry.user}
    optional |= {"timezone": entry.timezone, "shell": entry.shell}
    job |= {k: v for k, v in optional.items() if v is not None}
    if entry.env:
        job["env"] = dict(entry.env)
    if entry.mailto:
        job["alerts"] = {"urls": [mail_url(entry.mailto)]}
    return job


def _hoist(jobs: list[dict[str, object]]) -> tuple[dict[str, object], dict[str, object] | None]:
    """([defaults], [alerts]) of what every job shares, taken out of the jobs."""
    if not jobs:
        return {}, None
    defaults: dict[str, object] = {}
    for key in ("timezone", "shell"):
        if key in jobs[0] and all(j.get(key) == jobs[0][key] for j in jobs):
            defaults[key] = jobs[0][key]
    envs = [j.get("env", {}) for j in jobs]
    shared_env = {k: v for k, v in envs[0].items() if all(e.get(k) == v for e in envs)}
    if shared_env:
        defaults["env"] = shared_env
    alerts = jobs[0].get("alerts")
    if alerts is None or any(j.get("alerts") != alerts for j in jobs):
        alerts = None
    for job in jobs:
        for key in defaults.keys() - {"env"}:
            del job[key]
        env = {k: v for k, v in job.pop("env", {}).items() if k not in shared_env}
        if env:
            job["env"] = env
        if alerts is not None:
            del job["alerts"]
    return defaults, alerts


def jobs_toml(crontab: Crontab, display: str, prefix: str = "") -> str:
    """The jobs file for `crontab`'s entries: the same crontab gives the same bytes."""
    import tomli_w

    if prefix and not VALID_NAME.fullmatch(prefix + "x"):
        raise UsageError(
            f'--prefix "{prefix}": a job name is letters, digits, "_" and "-", '
            'and does not start with "-"'
        )
    names = unique_names([e.command for e in crontab.entries], prefix)
    jobs = [_job(e) for e in crontab.entries]
    defaults, alerts = _hoist(jobs)
    document: dict[str, object] = {}
    if defaults:
        document["defaults"] = defaults
    if alerts is not None:
        document["alerts"] = alerts
    document["jobs"] = dict(zip(names, jobs, strict=True))
    head = f"# Imported from {display} by `cronplus import-crontab`.\n\n"
    return head + tomli_w.dumps(document, multiline_strings=True)


def crontab_source(source: str | None) -> tuple[str, str]:
    """(text, name for messages) of FILE, or of `crontab -l` when None."""
    import subprocess

    if source is not None:
        try:
            with open(source, encoding="utf-8", errors="replace") as f:
                return f.read(), source
        except OSError as exc:
            raise UsageError(f'cannot read "{source}": {exc.strerror}') from None
    try:
        done = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise UsageError(
            f"cannot run crontab -l: {exc.strerror} (give a FILE, or - for stdin)"
        ) from None
    if done.returncode != 0:
        why = done.stderr.strip() or f"exit status {done.returncode}"
        raise UsageError(f"crontab -l: {why} (give a FILE, or - for stdin)")
    return done.stdout, "<crontab -l>"


def write_jobs_file(path: str, text: str, *, force: bool) -> None:
    """Write `text` to `path`, owner-only (env values and commands may hold secrets);
    an existing file only with `force`."""
    import os

    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageError(f'"{path}" exists (--force replaces it)') from None
    except OSError as exc:
        raise UsageError(f'cannot write "{path}": {exc.strerror}') from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(fd, 0o600)
        f.write(text)
