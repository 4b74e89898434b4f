"""Trigger, pause and resume on a job's page (written by another change; this stands in
until then: the page shows no action)."""

from __future__ import annotations

from cronplus.web._html import Markup


def action_forms(view: object, name: str) -> Markup:
    """The three POST forms with --allow-trigger; nothing otherwise."""
    return Markup("")
