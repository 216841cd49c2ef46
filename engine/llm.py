"""The one place ITA talks to an OpenAI-compatible chat model (OpenAI, a local Ollama or LM
Studio, any server speaking ``/v1/chat/completions``).

Off by default: `chat_client` returns None while ``ITA_LLM_MODEL`` is empty. The endpoint is
``ITA_LLM_BASE_URL`` (empty: OpenAI), the key ``ITA_OPENAI_API_KEY`` (a local server takes any
key; OpenAI itself needs one), the wait ``ITA_LLM_TIMEOUT_SECONDS``. Every failure — a
timeout, a refused connection, a 4xx or 5xx answer, no key for OpenAI — becomes one line as
an `ItaError` that never holds the key: `ConfigurationError` when a person must fix the
settings (401, 403, 404: wrong key, model or address), `TemporaryError` when trying again
later may work (timeout, connection, 429, 5xx). A reasoning model's ``<think>`` block is
taken out of the reply.

>>> llm = chat_client(get_settings())  # doctest: +SKIP
>>> llm.chat([{"role": "user", "content": "Hi"}], max_tokens=20)  # doctest: +SKIP
'Hello!'
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigurationError, ItaError, TemporaryError

NO_KEY = "not-needed"  # local servers (Ollama, LM Studio) take any key; the client needs one
HOW_TO_ENABLE = ("no LLM is configured: set ITA_LLM_MODEL (e.g. llama3.1 or gpt-4o-mini) and, "
                 "for a local Ollama, ITA_LLM_BASE_URL=http://127.0.0.1:11434/v1 (OpenAI: "
                 "leave it empty and set ITA_OPENAI_API_KEY) in .env or on the Settings page")
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_PERSON_FIXES = {400, 401, 403, 404, 422}


def openai_client(*, base_url: str | None, api_key: str | None, timeout: float) -> Any:
    """The real `openai.OpenAI` client for `base_url` (OpenAI when None), without retries
    (a caller decides whether to wait longer)."""
    import openai

    return openai.OpenAI(api_key=api_key or NO_KEY, base_url=base_url, timeout=timeout,
                         max_retries=0)


@dataclass
class LLM:
    """A chat model at an endpoint. `chat` sends messages and returns the reply's text."""

    model: str
    base_url: str | None
    timeout: float
    client: Any
    secret: str = ""

    def chat(self, messages: list[dict[str, str]], *, max_tokens: int = 800,
             temperature: float = 0.2) -> str:
        """The model's reply to `messages` (``<think>`` removed, stripped); an `ItaError`
        (one line, no key) when it fails or answers nothing."""
        import openai

        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=max_tokens,
                temperature=temperature, timeout=self.timeout)
        except openai.APITimeoutError:
            raise TemporaryError(f"LLM {self.model} at {self._where()}: no answer within "
                                 f"{self.timeout:g} s (ITA_LLM_TIMEOUT_SECONDS); try again "
                                 "or raise it") from None
        except openai.APIConnectionError:
            raise TemporaryError(f"LLM at {self._where()}: cannot connect; is the server "
                                 "running and ITA_LLM_BASE_URL right?") from None
        except openai.APIStatusError as error:
            raise self._status_error(error) from None
        except openai.OpenAIError as error:
            raise TemporaryError(f"LLM {self.model}: {self._safe(error)}") from None
        reply = response.choices[0].message.content if response.choices else None
        text = _THINKING.sub(" ", reply or "").strip()
        if not text:
            raise TemporaryError(f"LLM {self.model} at {self._where()} answered nothing; "
                                 "try again")
        return text

    def close(self) -> None:
        """Close the client's connections."""
        close = getattr(self.client, "close", None)
        if callable(close):
            close()

    def _status_error(self, error) -> ItaError:
        status = int(getattr(error, "status_code", 0) or 0)
        what = f"LLM {self.model} at {self._where()} refused the request (HTTP {status}"
        detail = self._safe(error)
        if status in (401, 403):
            return ConfigurationError(f"{what}: the API key is wrong or lacks access); check "
                                      "ITA_OPENAI_API_KEY")
        if status == 404:
            return ConfigurationError(f"{what}: no such model or address); check "
                                      "ITA_LLM_MODEL and ITA_LLM_BASE_URL")
        if status in _PERSON_FIXES:
            return ConfigurationError(f"{what}: {detail})")
        return TemporaryError(f"{what}: {detail}); try again later")

    def _where(self) -> str:
        return self.base_url or "OpenAI"

    def _safe(self, error: BaseException) -> str:
        """One short line about `error`, the API key masked wherever it appears."""
        body = getattr(error, "body", None)
        message = body.get("message") if isinstance(body, dict) else None
        text = str(message or error).strip()
        text = text.splitlines()[0] if text else type(error).__name__
        if self.secret:
            text = text.replace(self.secret, "***")
        return text[:200]


def chat_client(settings, *, client: Any = None) -> LLM | None:
    """The configured chat model, or None when ``llm_model`` is empty (the LLM is off).

    A `ConfigurationError` when it cannot work as configured: OpenAI itself (no
    ``llm_base_url``) without ``openai_api_key``. `client` replaces the openai client (tests).
    """
    if not settings.llm_model:
        return None
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    if not settings.llm_base_url and not key:
        raise ConfigurationError("ITA_OPENAI_API_KEY is empty: OpenAI needs a key (or set "
                                 "ITA_LLM_BASE_URL to a local server such as Ollama)")
    timeout = float(settings.llm_timeout_seconds)
    client = client or openai_client(base_url=settings.llm_base_url, api_key=key,
                                     timeout=timeout)
    return LLM(settings.llm_model, settings.llm_base_url, timeout, client, key)


@contextlib.contextmanager
def using(settings, llm: LLM | None = None, *, required: bool = False) -> Iterator[LLM | None]:
    """`llm` when given (left open: its owner closes it), else the configured model (None
    when off; with `required`, a `ConfigurationError` saying how to turn it on), closed at
    the end."""
    if llm is not None:
        yield llm
        return
    own = chat_client(settings)
    if own is None and required:
        raise ConfigurationError(HOW_TO_ENABLE)
    try:
        yield own
    finally:
        if own is not None:
            own.close()
