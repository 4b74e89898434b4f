"""Pages of jobs: `/` and `/ledger` show `PAGE_JOBS` jobs at a time (`?page=N`), so
that 1,000 jobs cost a page what 50 do; and the whole numbers a query may carry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from cronplus.web._html import Markup, html, join
from cronplus.web._http import HttpError, Request, whole_number

PAGE_JOBS = 50


def number(req: Request, name: str, default: int, most: int) -> int:
    """`?name=N`, a whole number from 1 to `most`; 400 otherwise."""
    text = req.query.get(name)
    if text is None or text == "":
        return default
    value = whole_number(text, name)
    if not 1 <= value <= most:
        raise HttpError(400, f'{name} "{text}" must be a whole number from 1 to {most}')
    return value


@dataclass(frozen=True, slots=True)
class JobPage:
    shown: list[str]  # the jobs on this page, in file order
    number: int
    pages: int
    total: int

    def nav(self, path: str, query: dict[str, object]) -> Markup:
        """`nav.pager`: which jobs these are, links to the pages before and after."""
        if self.pages == 1:
            return Markup("")
        first = (self.number - 1) * PAGE_JOBS + 1
        last = min(self.total, self.number * PAGE_JOBS)

        def link(rel: str, to: int, text: str) -> Markup:
            href = f"{path}?{urlencode({**query, 'page': to})}"
            return html('<a rel="{}" href="{}">{}</a>', rel, href, text)

        links = [
            link("prev", self.number - 1, "Previous jobs") if self.number > 1 else "",
            link("next", self.number + 1, "Next jobs") if self.number < self.pages else "",
        ]
        return html(
            '<nav class="pager" aria-label="pages of jobs">Jobs {} to {} of {} {}</nav>',
            f"{first:,}",
            f"{last:,}",
            f"{self.total:,}",
            join(links, " "),
        )


def job_page(req: Request, names: Sequence[str]) -> JobPage:
    """The page of jobs `?page=N` asks for (400 beyond the last)."""
    pages = max(1, -(-len(names) // PAGE_JOBS))
    n = number(req, "page", 1, pages)
    shown = list(names[(n - 1) * PAGE_JOBS : n * PAGE_JOBS])
    return JobPage(shown, n, pages, len(names))
