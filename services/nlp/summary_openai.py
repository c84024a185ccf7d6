"""Abstractive summaries from an operator-run, OpenAI-compatible chat-completions server
(vLLM, llama.cpp server, Ollama, TGI, LiteLLM, ...), over httpx.

``summarize_openai(...)`` returns the summary text or raises :class:`OpenAIBackendError`
with a short, key-free reason; :func:`services.nlp.summary.summarize` then falls back to
the extractive summary. Nothing here retries for long: the caller has its own budget.
"""

from __future__ import annotations

import httpx

__all__ = ["OpenAIBackendError", "summarize_openai", "MAX_INPUT_CHARS"]

MAX_INPUT_CHARS = 24_000  # keep the prompt within small models' context windows

_LANGUAGE_NAMES = {
    "ar": "Arabic", "en": "English", "fa": "Persian", "ur": "Urdu", "he": "Hebrew",
    "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "es": "Spanish", "fr": "French",
    "de": "German", "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "ru": "Russian",
    "uk": "Ukrainian", "pl": "Polish", "tr": "Turkish", "yo": "Yoruba", "hi": "Hindi",
}


class OpenAIBackendError(Exception):
    """The backend could not produce a summary (unreachable, timeout, HTTP error,
    malformed answer, empty answer)."""


def _endpoint(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    return base + "/chat/completions"


def build_messages(text: str, language: str | None, n_sentences: int) -> list[dict[str, str]]:
    lang_name = _LANGUAGE_NAMES.get((language or "").lower().replace("_", "-").split("-")[0])
    in_lang = f" Write it in {lang_name}." if lang_name else " Write it in the language of the document."
    system = (
        "You summarize documents faithfully. Use only facts stated in the document."
        f" Answer with the summary only, at most {n_sentences} sentence"
        f"{'s' if n_sentences != 1 else ''}, no preamble.{in_lang}"
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": text[:MAX_INPUT_CHARS]},
    ]


def summarize_openai(
    text: str,
    *,
    language: str | None,
    n_sentences: int,
    base_url: str,
    model: str,
    api_key: str | None = None,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> str:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    payload = {
        "model": model,
        "messages": build_messages(text, language, n_sentences),
        "temperature": 0.0,
        "max_tokens": 120 * max(1, n_sentences),
        "stream": False,
    }
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), transport=transport) as client:
            resp = client.post(_endpoint(base_url), json=payload, headers=headers)
    except httpx.TimeoutException:
        raise OpenAIBackendError(f"backend_timeout: no answer within {timeout:g}s") from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        raise OpenAIBackendError(f"backend_unreachable: {type(exc).__name__}") from None
    if resp.status_code != 200:
        raise OpenAIBackendError(f"backend_http_error: status {resp.status_code}")
    try:
        data = resp.json()
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise OpenAIBackendError("backend_bad_response: not a chat completion") from None
    if not isinstance(content, str) or not content.strip():
        raise OpenAIBackendError("backend_empty_response: the model returned no text")
    return content.strip()
