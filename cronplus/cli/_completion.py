"""Shell completion (issue 14): `cronplus completion bash|zsh|fish` prints click's
script, and `_CRONPLUS_COMPLETE` answers the shell. JOB arguments complete from the
jobs file (the line's own `-c`, else as every command finds it), `--status` and
`--trigger` from their words.

A completion request is a whole `cronplus` start per Tab, so the common ones (a JOB,
a `--status`/`--trigger` value) are answered here without click, in click's own
format, as a piped `status` is (issue 12); anything else (command names, options,
a line with options after the command) goes to click, whose parameters get the same
answers through `add_completions`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs a quick command's start (issue 12)
if TYPE_CHECKING:
    import click

COMPLETE_VAR = "_CRONPLUS_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
# RunStatus's and Trigger's values (tests/test_completion.py checks them): the model
# costs more to import than this whole answer.
STATUS_WORDS = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "skipped",
    "upstream_failed",
    "interrupted",
)
TRIGGER_WORDS = ("schedule", "manual", "backfill", "catchup", "file")
WORD_OPTIONS = {"--status": STATUS_WORDS, "--trigger": TRIGGER_WORDS}
# The commands that take those options (tests/test_completion.py checks it against click).
WORD_OPTION_COMMANDS: dict[str, tuple[str, ...]] = {"history": ("--status", "--trigger")}
# The commands whose first positional arguments are jobs: how many (None: all of them).
# tests/test_completion.py checks this against the commands' click arguments.
JOB_ARGUMENTS: dict[str, int | None] = {
    "alert-test": 1,
    "backfill": 1,
    "history": None,
    "logs": 1,
    "mark": 1,
    "next": 1,
    "pause": None,
    "resume": None,
    "status": None,
    "trigger": 1,
}


def main() -> None:
    """Answer a completion request without click if it is a common one (and exit);
    return to let click answer it."""
    shell, _, instruction = os.environ.get(COMPLETE_VAR, "").partition("_")
    if instruction != "complete" or shell not in SHELLS:
        return
    try:
        args, incomplete = completion_args(shell)
    except (KeyError, ValueError):
        return
    values = fast_values(args, incomplete)
    if values is None:
        return
    sys.stdout.write(format_items(shell, values))
    sys.stdout.flush()
    raise SystemExit(0)


def completion_args(shell: str) -> tuple[list[str], str]:
    """The words before the one completed, and that one, as click reads them."""
    words = split_arg_string(os.environ["COMP_WORDS"])
    if shell == "fish":
        incomplete = os.environ["COMP_CWORD"]
        if incomplete:
            incomplete = split_arg_string(incomplete)[0]
        args = words[1:]
        if incomplete and args and args[-1] == incomplete:
            args.pop()
        return args, incomplete
    cword = int(os.environ["COMP_CWORD"])
    return words[1:cword], words[cword] if cword < len(words) else ""


def split_arg_string(string: str) -> list[str]:
    """click's `split_arg_string`: shlex's words, an unfinished last one kept as is."""
    import shlex

    lex = shlex.shlex(string, posix=True)
    lex.whitespace_split = True
    lex.commenters = ""
    out = []
    try:
        for token in lex:
            out.append(token)
    except ValueError:
        out.append(lex.token)
    return out


def format_items(shell: str, values: list[str]) -> str:
    """click's answer for plain items without help, as `echo` writes it."""
    if shell == "bash":
        lines = [f"plain,{v}" for v in values]
    else:
        lines = [f"plain\n{v}\n_" for v in values]
    return "\n".join(lines) + "\n"


def fast_values(args: list[str], incomplete: str) -> list[str] | None:
    """The completions of a JOB argument or a `--status`/`--trigger` value after only
    global options and the command; None for anything else (click answers it)."""
    config = os.environ.get("CRONPLUS_CONFIG") or "jobs.toml"
    i = 0
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        if arg in ("-c", "--config", "--state") and i + 1 < len(args):
            config = args[i + 1] if arg != "--state" else config
            i += 2
        elif arg.startswith(("--config=", "--state=")):
            config = arg.partition("=")[2] if arg.startswith("--config=") else config
            i += 1
        else:
            return None
    if i >= len(args) or args[i] not in JOB_ARGUMENTS:
        return None
    command, rest = args[i], args[i + 1 :]
    if rest and rest[-1] in WORD_OPTION_COMMANDS.get(command, ()):
        return complete_words(WORD_OPTIONS[rest[-1]], incomplete)
    if incomplete.startswith("-") or any(a.startswith("-") for a in rest):
        return None
    count = JOB_ARGUMENTS[command]
    if count is not None and len(rest) >= count:
        return None
    return [name for name in job_names(config) if name.startswith(incomplete)]


def complete_words(words: tuple[str, ...], incomplete: str) -> list[str]:
    """`--status failed,ti` → `failed,timed_out`: the option takes commas too."""
    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    return [prefix + w for w in words if w.startswith(last)]


def job_names(config: str) -> list[str]:
    """The jobs the file defines, in its order; none if it cannot be read (a Tab
    never prints an error)."""
    import tomllib

    try:
        with open(os.path.expanduser(config), "rb") as f:
            jobs = tomllib.load(f).get("jobs", {})
    except (OSError, ValueError):  # TOMLDecodeError, and UnicodeDecodeError, are ValueErrors
        return []
    return list(jobs) if isinstance(jobs, dict) else []


# -- under click ----------------------------------------------------------------------------


def add_completions(command: click.Command) -> None:
    """Give a command's JOB arguments and `--status`/`--trigger` options the answers
    `fast_values` gives, for the requests it leaves to click."""
    import click

    for param in command.params:
        if isinstance(param, click.Argument) and param.name in ("job", "jobs"):
            param._custom_shell_complete = _complete_jobs  # noqa: SLF001
        elif isinstance(param, click.Option) and set(param.opts) & WORD_OPTIONS.keys():
            param._custom_shell_complete = _complete_words  # noqa: SLF001


def _complete_jobs(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    config = ctx.find_root().params.get("config_path") or "jobs.toml"
    return [name for name in job_names(config) if name.startswith(incomplete)]


def _complete_words(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    option = next(o for o in param.opts if o in WORD_OPTIONS)
    return complete_words(WORD_OPTIONS[option], incomplete)


def source(group: click.Command, shell: str) -> str:
    """click's completion script for `shell`."""
    from click.shell_completion import get_completion_class

    comp_cls = get_completion_class(shell)
    assert comp_cls is not None  # the command's Choice allows only those click has
    return comp_cls(group, {}, "cronplus", COMPLETE_VAR).source()
