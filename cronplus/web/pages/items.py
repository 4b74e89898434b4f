"""A for_each run's items on its page (issue 16): `table#items`, one row an item
(`tr[data-item-index][data-status]`), each linking to its log,
`/runs/ID/items/I/log` (`?attempt=N`, default its last) as plain text."""

from __future__ import annotations

from cronplus.model import Item, Run
from cronplus.web._html import Markup, attrs, html, join
from cronplus.web._http import HttpError, Response, whole_number
from cronplus.web._layout import badge, status_word
from cronplus.web._logs import raw_log_response
from cronplus.web._routes import route


def items_table(store, run: Run) -> Markup:
    """The run's items, or nothing for a run without a list (no for_each)."""
    items = store.items_of([run.id]).get(run.id)
    if items is None:
        return html("")
    if not items:
        return html('<p class="note" id="no-items">{}</p>', "0 items: for_each listed none.")
    rows = join(_row(run, i) for i in items)
    return html(
        '<h2>Items</h2><table id="items"><thead><tr><th scope="col">Index</th>'
        '<th scope="col">Item</th><th scope="col">Status</th><th scope="col">Attempts</th>'
        '<th scope="col">Exit code</th><th scope="col">Reason</th><th scope="col">Log</th>'
        "</tr></thead><tbody>{}</tbody></table>",
        rows,
    )


def _row(run: Run, i: Item) -> Markup:
    log = (
        html('<a href="/runs/{}/items/{}/log" type="text/plain">log</a>', run.id, i.index)
        if i.attempts
        else "-"
    )
    return html(
        "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        attrs(data_item_index=i.index, data_status=i.status),
        i.index,
        i.item,
        badge(str(i.status), status_word(i.status)),
        len(i.attempts),
        "-" if i.exit_code is None else i.exit_code,
        i.reason or "-",
        log,
    )


@route("GET", r"/runs/(?P<run_id>[0-9]+)/items/(?P<index>[0-9]+)/log")
def item_log(view, req, run_id: str, index: str) -> Response:
    """An item's attempt's log as text/plain, from byte `?offset=` (0 by default)."""
    items: list[Item] = []
    if len(run_id) <= 18:  # a run id past SQLite's integers is no run
        with view.source.store() as store:
            items = store.items_of([int(run_id)]).get(int(run_id)) or []
    n = int(index) if len(index) <= 9 else -1
    if not 0 <= n < len(items) or not items[n].attempts:
        raise HttpError(404, f"run {run_id} has no item {index} with output")
    tries = items[n].attempts
    number = whole_number(req.query.get("attempt") or str(len(tries)), "attempt")
    if not 1 <= number <= len(tries):
        raise HttpError(404, f"item {n} of run {run_id} has {len(tries)} attempt(s)")
    a = tries[number - 1]
    offset = whole_number(req.query.get("offset", "0") or "0", "offset")
    what = f"item {n} of run {run_id}"
    return raw_log_response(a.log or "", offset, going=a.finished_at is None, what=what)
