"""Python jobs for examples/jobs.toml: cronplus imports this from the jobs file's folder."""

from datetime import datetime


def transform(job: str, scheduled_for: datetime, attempt: int) -> None:
    pass
