"""`ita models list|promote` on a registry made of small models."""

from __future__ import annotations

from typer.testing import CliRunner

from engine.cli import app
from engine.learn.registry import champion, consider, save_model
from engine.settings import get_settings
from tests.learn._registry_fixtures import DATASET_META, evaluation, tiny_model


def test_list_and_promote(ita_home) -> None:
    runner = CliRunner(env={"COLUMNS": "250"})
    empty = runner.invoke(app, ["models", "list"])
    assert empty.exit_code == 0 and "no models yet" in empty.output
    settings = get_settings()
    good = save_model(settings, tiny_model(), evaluation(), DATASET_META)
    consider(settings, good)
    weak = save_model(settings, tiny_model(trees=9), evaluation(auc=0.52, low=0.46),
                      DATASET_META)
    consider(settings, weak)
    listed = runner.invoke(app, ["models", "list", "london-fvg"])
    assert listed.exit_code == 0, listed.output
    assert good.model_id in listed.output and weak.model_id in listed.output
    assert "champion" in listed.output and "not better than chance" in listed.output
    assert "0.62 [0.55, 0.68]" in listed.output and "+0.30 (120) ≥ 0.40" in listed.output
    promoted = runner.invoke(app, ["models", "promote", weak.model_id[:6]])
    assert promoted.exit_code == 0, promoted.output
    assert f"{weak.model_id} is now the champion of london-fvg@3" in promoted.output
    assert champion(get_settings(), "london-fvg", 3).model_id == weak.model_id
    narrow = CliRunner(env={"COLUMNS": "100"}).invoke(app, ["models", "list"])
    assert good.model_id in narrow.output and "0.62 [0.55, 0.68]" in narrow.output
    (good.path / "card.json").write_text("{")
    damaged = runner.invoke(app, ["models", "list"])
    assert damaged.exit_code == 0 and "skipped" in damaged.output
    assert "unreadable model card" in damaged.output and weak.model_id in damaged.output
    missing = runner.invoke(app, ["models", "promote", "zzzz"])
    assert missing.exit_code == 1 and "no such model" in str(missing.exception)
