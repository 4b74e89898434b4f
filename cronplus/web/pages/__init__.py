"""The pages, each module registering its URLs (`_routes.route`) when imported."""

from cronplus.web.pages import overview, static  # noqa: F401
