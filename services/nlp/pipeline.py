"""The one entry point to the engines, shared by the Celery tasks and ``docenrich nlp``,
so a batch run and the service give identical results for the same text."""

from __future__ import annotations

from typing import Any

from services.core.settings import Settings, get_settings

TASKS = ("language", "entities", "summary")


def preload(tasks: list[str] | tuple[str, ...] = TASKS) -> None:
    """Load every model the given tasks need, once per process (call before forking).
    The summarizer has no model; entity and summary workers never detect languages."""
    if "language" in tasks:
        from services.nlp import language

        language.preload()
    if "entities" in tasks:
        from services.nlp import entities

        entities.preload()


def resolve_language(text: str, hint: str | None) -> str | None:
    """The client's language if given, else the detected one (None when undetermined)."""
    if hint:
        return hint
    from services.nlp import language

    code = language.detect(text)["code"]
    return None if code == "und" else code


def run(
    task: str,
    text: str,
    *,
    language: str | None = None,
    options: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    settings = settings or get_settings()
    if task == "language":
        from services.nlp import language as engine

        return engine.detect(text)
    if task == "entities":
        from services.nlp import entities as engine

        return engine.extract_entities(text, language)
    if task == "summary":
        from services.nlp import summary as engine

        summary_options = (options or {}).get("summary") or {}
        return engine.summarize(
            text,
            language,
            sentences=summary_options.get("sentences"),
            ratio=summary_options.get("ratio"),
            backend=settings.summary_backend,
            openai_base_url=settings.summary_openai_base_url,
            openai_model=settings.summary_openai_model,
            openai_api_key=settings.summary_openai_api_key,
            timeout=settings.summary_openai_timeout,
        )
    raise ValueError(f"unknown task {task!r}")
