"""What a client sees of a job: the stored record minus internal bookkeeping."""

from __future__ import annotations

from typing import Any

_INTERNAL = ("tenant", "fingerprint", "writes")


def job_view(job: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in job.items() if key not in _INTERNAL}
