"""What the delivery tests send: a tiny PNG and a caption naming the signal."""

from __future__ import annotations

import html

from engine.live.journal import OutboxItem

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def render(item: OutboxItem) -> tuple[bytes, str]:
    return PNG, f"<b>{html.escape(item.signal_id)}</b>"


def signal_of(caption: str) -> str:
    """The signal id a `render` caption names (with any "(resent) " mark removed)."""
    return html.unescape(caption.removeprefix("(resent) ").removeprefix("<b>").removesuffix(
        "</b>"))
