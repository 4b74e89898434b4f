"""The validation pass behind `config.load_config`: the file's tables, each job, the
`after` graph rules, and building the model once nothing is wrong (the checks of
single values are `_checks`'). Private to the package."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cronplus import graph
from cronplus._toml_lines import KeyLines
from cronplus.config._checks import ALERTS_KEYS, BAD, Checks, Where
from cronplus.config._pool_checks import NAME_RE, check_pools, parse_pools
from cronplus.config._values import show_value, system_timezone
from cronplus.config._watch import WATCH_KEYS, check_watch, watch_fields
from cronplus.errors import ConfigError, did_you_mean
from cronplus.model import DEFAULT_LEASE, MAX_RETRY_DELAY, AlertsConfig, Config, Job, RetryPolicy

# Keys in the order they are listed in messages.
JOB_KEYS = (
    "schedule", "command", "python", "shell", "after", "timezone", "retries", "retry_delay",
    "retry_backoff", "retry_max_delay", "timeout", "kill_grace", "expected_duration",
    "start_grace", "overlap", "catchup", "catchup_limit", "env", "cwd", "enabled",
    "description", "alerts", "stdin",
    "jitter",
    "user", "max_log_bytes",
    "keep_runs", "keep_days",
    "pool", "pool_slots", "deadline",
    "for_each", "for_each_max", "item_parallel",
    *WATCH_KEYS,
    "max_active",
)  # fmt: skip
NOT_DEFAULTS = {
    "schedule": "set it on each job",
    "command": "set it on each job",
    "python": "set it on each job",
    "after": "set it on each job that needs it",
    "alerts": "use the [alerts] table",
    "stdin": "set it on each job",
    "pool_slots": "set it on each job in a pool",
    "for_each": "set it on each job that fans out",
    "watch": "set it on each job",
}
DEFAULTS_ONLY = ("state", "max_parallel", "env_file", "lease")
DEFAULTS_KEYS = tuple(k for k in JOB_KEYS if k not in NOT_DEFAULTS) + DEFAULTS_ONLY
TOP_KEYS = ("defaults", "alerts", "pools", "jobs")
# In the order a too-long retry delay is reported on: the likeliest culprit first.
RETRY_KEYS = ("retry_backoff", "retries", "retry_delay", "retry_max_delay")


class Loader(Checks):
    """One validation pass over a parsed file; collects problems, then builds the Config."""

    def __init__(self, display: str, path: Path, lines: KeyLines) -> None:
        super().__init__(display, path, lines)
        self._system_zone: str | None = None
        self._policies: dict[tuple[Any, ...], RetryPolicy] = {}
        self._too_long: set[RetryPolicy] = set()

    def retry_policy(self, chosen: tuple[Any, ...]) -> RetryPolicy:
        """The policy of a job's RETRY_KEYS values (None: not set anywhere), made once
        for all the jobs that share them: most share one (issue 12)."""
        if chosen not in self._policies:
            policy = _retry_policy(dict(zip(RETRY_KEYS, chosen, strict=True)))
            if policy.longest_delay_s() > MAX_RETRY_DELAY.total_seconds():
                self._too_long.add(policy)
            self._policies[chosen] = policy
        return self._policies[chosen]

    def system_zone(self) -> str:
        if self._system_zone is None:
            self._system_zone = system_timezone()
        return self._system_zone

    # -- the file --------------------------------------------------------------

    def load(self, data: dict[str, Any]) -> Config:
        top = Where(())
        for key in data:
            if key not in TOP_KEYS:
                hint = (
                    did_you_mean(key, TOP_KEYS)
                    or " (expected [defaults], [alerts], [pools] or [jobs.NAME])"
                )
                self.report(top, key, f'unknown key "{key}"{hint}')
        defaults = self.table(data, "defaults", self.defaults)
        alerts = self.table(data, "alerts", self.alerts)
        pools = self.table(data, "pools", lambda t: parse_pools(self, t)) or {}
        jobs_raw = data.get("jobs", {})
        if not isinstance(jobs_raw, dict):
            self.wrong(top, "jobs", "a table of [jobs.NAME] tables", jobs_raw)
            jobs_raw = {}
        tables = {}
        for name, table in jobs_raw.items():
            where = Where(("jobs", name), job=name)
            if not isinstance(table, dict):
                self.report(where, None, f"must be a table [jobs.{name}] (got {show_value(table)})")
                continue
            tables[name] = table
        values = {name: self.job(name, table) for name, table in tables.items()}
        self.check_graph(tables, values, defaults or {})
        self.check_retries(values, defaults or {})
        check_pools(self, tables, values, defaults or {}, pools)
        check_watch(self, tables, values, {n: tuple(v.get("after", ())) for n, v in values.items()})
        if self.problems:
            raise ConfigError(self.problems, self.display)
        return replace(self.build(values, defaults or {}, alerts), pools=pools)

    def table(self, data: dict[str, Any], key: str, parse: Callable[[dict], Any]) -> Any:
        if key not in data:
            return None
        if not isinstance(data[key], dict):
            self.wrong(Where(()), key, f"a table [{key}]", data[key])
            return None
        return parse(data[key])

    def checked(
        self,
        where: Where,
        table: dict[str, Any],
        allowed: tuple[str, ...],
        checks: Mapping[str, Callable[[Where, str, Any], Any]],
        misplaced: Callable[[str], str | None] = lambda key: None,
    ) -> dict[str, Any]:
        """A table's values that pass their checks; a key that belongs elsewhere
        (`misplaced` says where) or nowhere is reported, and so is a bad value."""
        values = {}
        for key, value in table.items():
            if (why := misplaced(key)) is not None:
                self.report(where, key, why)
            elif key not in allowed:
                self.unknown_key(where, key, allowed)
            elif (parsed := checks[key](where, key, value)) is not BAD:
                values[key] = parsed
        return values

    def defaults(self, table: dict[str, Any]) -> dict[str, Any]:
        where = Where(("defaults",), label="[defaults] ")
        return self.checked(where, table, DEFAULTS_KEYS, self.checks, _not_a_default)

    def alerts(self, table: dict[str, Any]) -> AlertsConfig:
        where = Where(("alerts",), label="[alerts] ")
        return AlertsConfig(**self.checked(where, table, ALERTS_KEYS, self.alert_checks))

    def job(self, name: str, table: dict[str, Any]) -> dict[str, Any]:
        where = Where(("jobs", name), job=name)
        if not NAME_RE.fullmatch(name):
            self.report(
                where,
                None,
                'name must be 1 to 100 ASCII letters, digits, "_" and "-",'
                ' not starting with "-" (rename the table)',
            )
        has = "command" in table, "python" in table
        if all(has):
            self.report(where, None, "has both command and python (keep one)")
        elif not any(has):
            self.report(
                where,
                None,
                "has neither command nor python"
                ' (add command = "..." or python = "package.module:function")',
            )
        if "jitter" in table and "schedule" not in table:
            self.report(
                where,
                "jitter",
                "jitter without a schedule: only fire times are jittered"
                " (remove jitter, or add a schedule)",
            )
        return self.checked(where, table, JOB_KEYS, self.checks, _defaults_only)

    # -- across jobs: after, cycles, pipelines ---------------------------------------

    def check_graph(
        self,
        tables: dict[str, dict[str, Any]],
        values: dict[str, dict[str, Any]],
        defaults: dict[str, Any],
    ) -> None:
        deps: dict[str, tuple[str, ...]] = {}
        for name, job in values.items():
            where = Where(("jobs", name), job=name)
            edges = []
            for dep in job.get("after", ()):
                if dep == name:
                    self.report(
                        where, "after", f'after "{dep}": a job can\'t run after itself (remove it)'
                    )
                elif dep not in tables:
                    others = [n for n in tables if n != name]
                    hint = did_you_mean(dep, others) or f" (add [jobs.{dep}] or fix the name)"
                    self.report(where, "after", f'after "{dep}": no such job{hint}')
                else:
                    edges.append(dep)
            deps[name] = tuple(edges)
        for cycle in graph.find_cycles(deps):
            self.report(
                Where(("jobs", cycle[0]), job=cycle[0]),
                "after",
                f"dependency cycle: {' -> '.join(cycle)}",
            )
        has_after = {name: bool(table.get("after")) for name, table in tables.items()}
        for name, table in tables.items():
            for key in ("schedule", "timezone"):
                if has_after[name] and key in table:
                    self.report(
                        Where(("jobs", name), job=name),
                        key,
                        f"has after, so it can't have its own {key}"
                        f" (it takes its pipeline's; remove {key})",
                    )
        for group in graph.pipelines(deps):
            roots = [name for name in group if not has_after[name]]
            starts = {values[r].get("schedule") for r in roots}  # issue 15: deadlines
            if "@reboot" in starts or starts <= {None}:
                kind = "starts @reboot" if "@reboot" in starts else "has no schedule"
                for name in (n for n in group if has_after[n] and "deadline" in tables[n]):
                    why = f"deadline in a pipeline that {kind}: only fire times have"
                    where = Where(("jobs", name), job=name)
                    self.report(where, "deadline", f"{why} deadlines (remove deadline)")
            # A root whose own value was bad is already reported; comparing it would only add noise.
            if len(roots) < 2 or any(
                k in tables[r] and k not in values[r]
                for r in roots
                for k in ("schedule", "timezone")
            ):
                continue
            schedules = {r: values[r].get("schedule") for r in roots}
            self.disagree(
                roots, "schedule", schedules, "give every job in it without after the same schedule"
            )
            zones = {
                r: values[r].get("timezone") or defaults.get("timezone") or self.system_zone()
                for r in roots
            }
            self.disagree(
                roots, "timezone", zones, "give every job in it without after the same timezone"
            )

    def disagree(
        self, roots: list[str], key: str, declared: dict[str, str | None], fix: str
    ) -> None:
        """One problem per pipeline whose roots differ, at the first root unlike the first."""

        def norm(value: str | None) -> str | None:
            return " ".join(value.split()) if value else None

        first = norm(declared[roots[0]])
        odd = next((r for r in roots if norm(declared[r]) != first), None)
        if odd is None:
            return
        listing = ", ".join(
            f'"{r}" has {show_value(declared[r]) if declared[r] else "none"}' for r in roots
        )
        self.report(
            Where(("jobs", odd), job=odd),
            key,
            f"pipeline roots disagree on {key}: {listing} ({fix})",
        )

    def check_retries(self, values: dict[str, dict[str, Any]], defaults: dict[str, Any]) -> None:
        """Each job's longest retry delay, from its settings over [defaults], must be one
        that can be waited: reported on the job when it sets one of them, else once on
        [defaults]."""
        on_defaults = False
        for name, job in values.items():
            policy = self.retry_policy(
                tuple(job[k] if k in job else defaults.get(k) for k in RETRY_KEYS)
            )
            if policy not in self._too_long:
                continue
            own = [k for k in RETRY_KEYS if k in job]
            if not own and on_defaults:
                continue
            on_defaults = on_defaults or not own
            where = (
                Where(("jobs", name), job=name)
                if own
                else Where(("defaults",), label="[defaults] ")
            )
            self.report(
                where,
                (own or [k for k in RETRY_KEYS if k in defaults])[0],
                f"retry_backoff {policy.backoff:g} with retries = {policy.retries} and"
                f" retry_delay {policy.delay.total_seconds():g}s makes the delay before the"
                f" last retry longer than {MAX_RETRY_DELAY.days:,} days"
                " (lower them, or cap it with retry_max_delay)",
            )

    # -- the model -------------------------------------------------------------------

    def build(
        self,
        values: dict[str, dict[str, Any]],
        defaults: dict[str, Any],
        alerts: AlertsConfig | None,
    ) -> Config:
        deps = {name: job.get("after", ()) for name, job in values.items()}
        dag = graph.Dag(deps)  # once: a job's roots asked one by one made loading quadratic
        zones = {
            name: job.get("timezone") or defaults.get("timezone") or self.system_zone()
            for name, job in values.items()
            if not deps[name]
        }
        jobs = {}
        for name, job in values.items():
            get = {**defaults, **job}.get  # a job's own value, else its default
            own_alerts = job.get("alerts", True)
            jobs[name] = Job(
                name=name,
                command=job.get("command"),
                python=job.get("python"),
                schedule=job.get("schedule"),
                timezone=zones[dag.pipeline_roots(name)[0]],
                after=deps[name],
                shell=get("shell", _JOB.shell),
                retry=self.retry_policy(tuple(get(k) for k in RETRY_KEYS)),
                timeout=get("timeout", _JOB.timeout),
                kill_grace=get("kill_grace", _JOB.kill_grace),
                expected_duration=get("expected_duration", _JOB.expected_duration),
                start_grace=get("start_grace", _JOB.start_grace),
                overlap=get("overlap", _JOB.overlap),
                catchup=get("catchup", _JOB.catchup),
                catchup_limit=get("catchup_limit", _JOB.catchup_limit),
                env={**defaults.get("env", {}), **job.get("env", {})},
                cwd=get("cwd", self.folder),
                enabled=get("enabled", _JOB.enabled),
                description=get("description", _JOB.description),
                line=self.lines.table_line("jobs", name),
                # A job's own alerts table overrides [alerts] field by field.
                alerts=replace(alerts or AlertsConfig(), **own_alerts)
                if isinstance(own_alerts, dict)
                else None,
                alerts_enabled=own_alerts is not False,
                stdin=job.get("stdin"),
                # [defaults].jitter spreads the jobs that have fire times, not `after` ones.
                jitter=get("jitter") if job.get("schedule") else None,
                user=get("user", _JOB.user),
                max_log_bytes=get("max_log_bytes", _JOB.max_log_bytes),
                keep_runs=get("keep_runs", _JOB.keep_runs),
                keep_days=get("keep_days", _JOB.keep_days),
                pool=get("pool", _JOB.pool),
                pool_slots=get("pool_slots", _JOB.pool_slots),
                # [defaults].deadline is for the jobs that have fire times (their own
                # schedule, or their pipeline's), not triggered-only or @reboot ones.
                deadline=get("deadline")
                if values[dag.pipeline_roots(name)[0]].get("schedule") not in (None, "@reboot")
                else None,
                for_each=job.get("for_each"),
                for_each_max=get("for_each_max", _JOB.for_each_max),
                item_parallel=get("item_parallel", _JOB.item_parallel),
                **watch_fields(job, defaults, self.folder),
                max_active=get("max_active", _JOB.max_active),
            )
        return Config(
            path=self.path,
            jobs=jobs,
            state=defaults.get("state"),
            max_parallel=defaults.get("max_parallel"),
            alerts=alerts,
            env_file=defaults.get("env_file"),
            lease=defaults.get("lease", DEFAULT_LEASE),
        )


_JOB = Job(name="")


def _retry_policy(chosen: dict[str, Any]) -> RetryPolicy:
    """The policy of the RETRY_KEYS values a job ends up with (None: not set anywhere)."""
    default = _JOB.retry

    def get(key: str, fallback: Any) -> Any:
        return fallback if chosen[key] is None else chosen[key]

    return RetryPolicy(
        retries=get("retries", default.retries),
        delay=get("retry_delay", default.delay),
        backoff=get("retry_backoff", default.backoff),
        max_delay=get("retry_max_delay", default.max_delay),
    )


def _not_a_default(key: str) -> str | None:
    return f"{key} can't be a default ({NOT_DEFAULTS[key]})" if key in NOT_DEFAULTS else None


def _defaults_only(key: str) -> str | None:
    return f"{key} can only be set in [defaults] (move it there)" if key in DEFAULTS_ONLY else None
