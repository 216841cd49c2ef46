"""Pages, blocks and images for reports: text split at 2,000 characters, 100 blocks a call,
images sent with the file upload API; 5xx retried for reads only."""

from __future__ import annotations

import pytest

from engine.adapters.notion import blocks
from engine.adapters.notion.gateway import NotionGateway
from engine.errors import DataError, TemporaryError


def test_long_text_is_split_so_notion_accepts_it(fake, notion_env):
    text = ("Entry on the retest of the gap. " * 200).strip()  # 6,399 characters
    with NotionGateway(notion_env) as notion:
        page_id = notion.create_page("Notes", blocks.paragraphs(text))
    [paragraph] = fake.block_children(page_id)
    pieces = [item["text"]["content"] for item in paragraph["paragraph"]["rich_text"]]
    assert "".join(pieces) == text
    assert max(len(p) for p in pieces) <= 2000 and len(pieces) == 4


def test_the_fake_refuses_an_unsplit_text_like_notion(fake, notion_env):
    with NotionGateway(notion_env) as notion, pytest.raises(DataError, match="2000"):
        notion.create_page("Notes", [{"object": "block", "type": "paragraph", "paragraph": {
            "rich_text": [{"type": "text", "text": {"content": "x" * 2001}}]}}])


def test_a_report_page_with_a_table_many_blocks_and_an_image(fake, notion_env, tmp_path):
    picture = tmp_path / "equity.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    rows = [[f"2024-03-{day:02d}", 0.5 * day, float("nan")] for day in range(1, 6)]
    children = [blocks.heading("Breakdown"), blocks.table(["day", "R", "note"], rows)]
    children += [blocks.paragraphs(f"trade {i}")[0] for i in range(150)]
    with NotionGateway(notion_env) as notion:
        upload = notion.upload_image(picture)
        children.append(blocks.image(upload, "Equity"))
        page_id = notion.create_page("Backtest fvg_retest v3", children)
        listed = notion.list_blocks(page_id)
    assert fake.uploads[upload]["data"] == picture.read_bytes()
    assert fake.uploads[upload]["status"] == "attached"
    assert [b["type"] for b in listed][:2] == ["heading_2", "table"]
    assert listed[-1]["type"] == "image" and len(listed) == 153
    table_rows = fake.block_children(listed[1]["id"])
    assert [blocks.plain({"type": "rich_text", "rich_text": c})
            for c in table_rows[1]["table_row"]["cells"]] == ["2024-03-01", "0.5", ""]


def test_a_5xx_is_retried_for_a_read(fake, notion_env):
    fake.fail_next("500", count=2, path="/query")
    fake.fail_next("503", count=1, path=f"/pages/{fake.parent}")
    with NotionGateway(notion_env) as notion:
        assert notion.page(fake.parent)["id"] == fake.parent
        source = notion.create_database("Rows", {"Name": {"title": {}}, "Key": {"rich_text": {}}})
        assert notion.query(source[1]) == []


def test_a_5xx_on_a_create_is_not_retried_blindly(fake, notion_env):
    fake.fail_next("500", path="/v1/pages")
    with NotionGateway(notion_env) as notion, pytest.raises(TemporaryError):
        notion.create_page("Once")
    assert fake.created["page"] == 0
    assert sum(1 for method, path in fake.requests if path == "/v1/pages") == 1


def test_an_unknown_column_is_refused_with_its_name(fake, notion_env):
    with NotionGateway(notion_env) as notion:
        _, source = notion.create_database("Rows", {"Name": {"title": {}},
                                                    "Key": {"rich_text": {}}})
        with pytest.raises(DataError, match="Colour is not a property"):
            notion.upsert_row(source, "Key", "a", {"Colour": blocks.text_value("red")})


def test_a_long_table_is_split_into_tables_notion_accepts(fake, notion_env):
    rows = [[i, i * 0.5] for i in range(250)]
    with NotionGateway(notion_env) as notion:
        page_id = notion.create_page("Trades", blocks.tables(["#", "R"], rows))
    made = fake.block_children(page_id)
    assert [b["type"] for b in made] == ["table"] * 3
    counts = [len(fake.block_children(b["id"])) - 1 for b in made]
    assert counts == [99, 99, 52]
    with pytest.raises(ValueError, match="tables"):
        blocks.table(["#"], [[i] for i in range(100)])


def test_the_pacer_spaces_calls_and_a_long_wait_resets_it():
    from engine.adapters.notion.gateway import Pacer

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        now[0] += seconds

    pacer = Pacer(3.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait()
    assert slept == [round(1 / 3, 6)] * 2
    now[0] += 5.0  # a 429's Retry-After wait happened in between: no extra pause after it
    pacer.wait()
    assert len(slept) == 2
