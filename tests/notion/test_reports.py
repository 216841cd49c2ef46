"""Report pages: built with uploaded images, one live page per report key."""

from __future__ import annotations

from engine.adapters.notion import blocks
from engine.adapters.notion.reports import publish_report
from engine.adapters.notion.state import NotionState
from engine.adapters.notion.workspace import setup_workspace


def test_publishing_a_key_again_replaces_its_page(fake, notion_env, ita_home, tmp_path):
    setup_workspace(ita_home, notion_env)
    picture = tmp_path / "r.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\nfake")

    def build(win_rate):
        def _blocks(notion):
            upload = notion.upload_image(picture)
            return [blocks.heading("Summary"),
                    blocks.table(["win rate", "trades"], [[win_rate, 40]]),
                    blocks.image(upload, "R histogram")]
        return _blocks

    first = publish_report(ita_home, notion_env, "run:abc", "Backtest abc", build(0.55))
    second = publish_report(ita_home, notion_env, "run:abc", "Backtest abc", build(0.6))
    reports = NotionState(ita_home, fake.parent).data["reports_page_id"]
    live = [b["id"] for b in fake.block_children(reports)
            if not fake.pages[b["id"]]["in_trash"]]
    assert live == [second] and fake.pages[first]["in_trash"]
    kinds = [b["type"] for b in fake.block_children(second)]
    assert kinds == ["heading_2", "table", "image"]
