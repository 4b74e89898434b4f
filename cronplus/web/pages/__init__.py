"""The pages, each module registering its URLs (`_routes.route`) when imported."""

from cronplus.web.pages import (  # noqa: F401
    actions,
    api,
    graph,
    items,
    job,
    ledger,
    overview,
    pools,
    run,
    static,
)
