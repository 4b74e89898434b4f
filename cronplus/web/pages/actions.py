"""What `--allow-trigger` adds: `POST /jobs/NAME/trigger`, `/pause`, `/resume`, and
`action_forms`, the three forms a job page shows (nothing on a read-only server).

`App` has checked the POST already (`_guard.check_post`: --allow-trigger, the
`Origin`, the form's `csrf_token`). A trigger is a detached `cronplus trigger`
(`trigger.start_detached`: the run goes on in its own session, whatever becomes of
this server), answered with a 303 to the run it claimed. Pause and resume are one
small write each: done here, on the state opened writable for that request only
(never by a read-only server), rather than by a `cronplus pause` subprocess that
would cost a Python start and turn its errors into text to parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from cronplus.web._html import Markup, html, join
from cronplus.web._http import HttpError, Request, Response, redirect
from cronplus.web._routes import route

if TYPE_CHECKING:
    from cronplus.web._app import View
    from cronplus.web._source import Loaded

ACTIONS = (
    ("trigger", "Trigger now", "Run this job now, then the jobs after it"),
    ("pause", "Pause", "Stop scheduling this job until resumed"),
    ("resume", "Resume", "Schedule this job again from its next fire time"),
)


def job_url(name: str) -> str:
    return f"/jobs/{quote(name, safe='')}"


def action_forms(view: View, name: str) -> Markup:
    """The trigger, pause and resume forms for job `name`, each with the hidden
    `csrf_token`; empty when the server is read-only."""
    if not view.settings.allow_trigger:
        return Markup("")
    forms = join(
        html(
            '<form class="action" method="post" action="{}/{}">'
            '<input type="hidden" name="csrf_token" value="{}">'
            '<button type="submit" name="action" value="{}" title="{}">{}</button></form>',
            job_url(name),
            action,
            view.settings.csrf,
            action,
            title,
            label,
        )
        for action, label, title in ACTIONS
    )
    return html('<div class="actions" id="actions">{}</div>', forms)


def _job(view: View, name: str) -> Loaded:
    loaded = view.loaded()
    if name not in loaded.config.jobs:
        raise HttpError(404, f'no job "{name}" in {view.source.config_path}')
    return loaded


@route("POST", r"/jobs/(?P<name>[^/]+)/trigger")
def trigger(view: View, req: Request, name: str) -> Response:
    from cronplus.trigger import DetachedStartError, start_detached

    loaded = _job(view, name)
    try:
        run_id = start_detached(view.source.config_path, loaded.paths, name)
    except DetachedStartError as e:
        raise HttpError(503, f"the trigger of {name} did not start: {e.output}") from None
    return redirect(f"/runs/{run_id}")


@route("POST", r"/jobs/(?P<name>[^/]+)/(?P<action>pause|resume)")
def pause_or_resume(view: View, req: Request, name: str, action: str) -> Response:
    from cronplus.store import open_store

    loaded = _job(view, name)
    store = open_store(loaded.paths, create=True)  # as `cronplus pause` opens it
    try:
        if action == "pause":
            store.pause(name, view.now())
        else:
            store.unpause(name)
    finally:
        store.close()
    return redirect(job_url(name))
