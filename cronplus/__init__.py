"""cronplus: a cron replacement with history, dependencies and an answer to "did it run?"."""

__version__ = "0.1.0"
