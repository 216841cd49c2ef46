"""The trader's labels: storage, the folder import with sidecars, and the detector check against
labels placed at known signal bars ± offsets on the demo candles (exact precision/recall)."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import yaml

from engine.errors import DataError
from engine.learn.labels import (
    LabelStore,
    add_label,
    check_labels,
    disagreement_png,
    import_folder,
    labels_dir,
    write_pictures,
)
from engine.pipeline import detect_setup
from tests.conftest import home_env, shared_home_settings

SETUP = "london-asia-sweep-fvg"


@pytest.fixture(scope="module")
def demo_home(new_demo_home):
    return new_demo_home("home")


@pytest.fixture()
def settings(demo_home, tmp_path, monkeypatch):
    """The demo's candles and setups, with this test's own (empty) shared folder."""
    monkeypatch.setenv("ITA_ANALYST", "anna")
    return shared_home_settings(demo_home, tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def bars(demo_home):
    """The setup's candle index and the bar positions of its signals."""
    with home_env(demo_home):
        detection = detect_setup(SETUP)
    index = detection.candles.index
    positions = sorted(set(index.searchsorted(detection.signals["known_at"], side="right") - 1))
    return index, positions


def png(color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(out, format="PNG")
    return out.getvalue()


def isolated(positions, gap=20):
    """Signal bars with no other signal within `gap` bars."""
    return [p for i, p in enumerate(positions)
            if all(abs(p - q) > gap for j, q in enumerate(positions) if j != i)]


def test_a_label_is_one_yaml_file_and_the_same_bar_again_replaces_it(settings, tmp_path):
    shot = tmp_path / "chart.png"
    shot.write_bytes(png())
    first = add_label(settings, SETUP, time="2023-03-07 15:20", label="setup", note="sweep",
                      screenshot=shot)
    folder = labels_dir(settings)
    assert folder == settings.shared_kb_dir / "analysts" / "anna" / "labels"
    assert (folder / f"{first.label_id}.yaml").exists()
    assert (folder / first.screenshot).read_bytes() == shot.read_bytes()
    stored = yaml.safe_load((folder / f"{first.label_id}.yaml").read_text())
    assert stored["symbol"] == "BTC/USDT" and stored["timeframe"] == "5m"
    assert stored["time"] == "2023-03-07T15:20:00+00:00" and stored["label"] == "setup"
    # the same bar (given with an offset) relabelled: one file, the new label
    again = add_label(settings, SETUP, time="2023-03-07T16:20+01:00", label="not", note="no")
    assert again.label_id == first.label_id
    [only] = LabelStore.from_settings(settings).labels(first.setup_id)
    assert only.label == "not_setup" and only.note == "no"
    assert LabelStore.from_settings(settings).delete(first.label_id)
    assert not list(folder.glob("*.yaml"))


@pytest.mark.parametrize(("field", "value", "words"), [
    ("label", "maybe", "label: must be 'setup' or 'not_setup'"),
    ("time", "yesterday-ish", "time:"),
    ("timeframe", "7x", "timeframe:"),
])
def test_a_bad_value_is_one_line_naming_the_field(settings, field, value, words):
    given = {"time": "2023-03-07 15:20", "label": "setup", "timeframe": None, field: value}
    with pytest.raises(DataError, match=words):
        add_label(settings, SETUP, **given)


def test_a_screenshot_that_is_not_an_image_is_refused(settings, tmp_path):
    fake = tmp_path / "chart.png"
    fake.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="not a PNG or JPEG"):
        add_label(settings, SETUP, time="2023-03-07 15:20", label="setup", screenshot=fake)
    assert LabelStore.from_settings(settings).labels() == []


def test_a_folder_of_screenshots_with_sidecars(settings, tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()

    def put(name, sidecar, image=True):
        if image:
            (folder / f"{name}.png").write_bytes(png((len(name) * 20 % 255, 10, 10)))
        if sidecar is not None:
            (folder / f"{name}.yaml").write_text(sidecar, encoding="utf-8")

    put("good1", "symbol: BTC/USDT\ntimeframe: 5m\ntime: 2023-03-07 15:20\nlabel: setup\n")
    put("good2", "symbol: BTC/USDT\ntime: '2023-03-09 09:15'\nlabel: not\nnote: late\n")
    put("nolabel", "symbol: BTC/USDT\ntime: 2023-03-07 15:20\n")
    put("badtime", "symbol: BTC/USDT\ntime: soon\nlabel: setup\n")
    put("typo", "symbol: BTC/USDT\ntime: 2023-03-07 15:20\nlabel: setup\nlable: x\n")
    put("broken", "symbol: [BTC\n")
    put("alone", None)
    put("orphan", "symbol: BTC/USDT\ntime: 2023-03-07 15:20\nlabel: setup\n", image=False)
    (folder / "fake.png").write_bytes(b"GIF89a")
    (folder / "fake.yaml").write_text("symbol: BTC/USDT\ntime: 2023-03-07 15:20\nlabel: setup\n")

    result = import_folder(settings, SETUP, folder)
    assert sorted(x.label for x in result.added) == ["not_setup", "setup"]
    assert [x.note for x in result.added if x.label == "not_setup"] == ["late"]
    assert all(x.screenshot for x in result.added)
    errors = sorted(result.errors)
    assert all("\n" not in e for e in errors)
    expected = ["alone.png: no sidecar", "badtime.yaml: time:", "broken.yaml: not valid YAML",
                "screenshot 'fake.png' is not a PNG or JPEG", "nolabel.yaml: label: is required",
                "orphan.yaml: no screenshot", "typo.yaml: lable: unknown field"]
    assert len(errors) == len(expected), errors
    for start, error in zip(sorted(expected), errors, strict=True):
        assert error.startswith(start), (start, error)
    assert len(LabelStore.from_settings(settings).labels()) == 2


def test_an_unknown_sidecar_field_is_named(settings, tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "a.png").write_bytes(png())
    (folder / "a.yaml").write_text("symbol: BTC/USDT\ntime: 2023-03-07 15:20\nlabel: setup\n"
                                   "lable: setup\n")
    result = import_folder(settings, SETUP, folder)
    assert result.added == []
    assert result.errors == ["a.yaml: lable: unknown field (allowed: label, note, symbol, "
                             "time, timeframe)"]


def test_precision_and_recall_on_a_hand_made_case(settings, bars):
    index, positions = bars
    alone = isolated(positions, gap=10)
    assert len(alone) >= 4
    a, b, c, d = alone[:4]
    far = next(p for p in range(len(index) - 1, 0, -1)
               if all(abs(p - q) > 40 for q in positions))

    def put(position, label):
        add_label(settings, SETUP, time=index[position], label=label)

    put(a, "setup")          # exact: true positive
    put(b + 2, "setup")      # 2 bars after: true positive
    put(c - 7, "setup")      # 7 bars before: missed
    put(far, "setup")        # no signal near: missed
    put(d - 1, "not")        # a signal 1 bar later: false positive
    put(far - 10, "not")     # true negative
    check = check_labels(settings, SETUP, tolerance_bars=3)
    counts = check.frame["outcome"].value_counts().to_dict()
    assert counts == {"true_positive": 2, "missed": 2, "false_positive": 1,
                      "true_negative": 1}
    assert check.precision == pytest.approx(2 / 3)
    assert check.recall == pytest.approx(2 / 4)
    assert check.summary().startswith("precision 0.67 (2 of 3 labels where ITA signals are "
                                      "setups) · recall 0.50 (2 of 4 setups found) · ±3 bars")
    rows = check.frame.set_index("bar_time")
    assert rows.loc[index[b + 2], "distance_bars"] == -2
    assert rows.loc[index[c - 7], "distance_bars"] == 7
    assert rows.loc[index[c - 7], "nearest_signal"] == index[c]
    assert rows.loc[index[d - 1], "distance_bars"] == 1
    assert set(check.disagreements["bar_time"]) == {index[c - 7], index[far], index[d - 1]}


@pytest.mark.parametrize("tolerance", [0, 3, 5])
def test_the_tolerance_edge_n_bars_matches_n_plus_one_does_not(settings, bars, tolerance):
    index, positions = bars
    signal, other = isolated(positions, gap=2 * tolerance + 4)[:2]
    add_label(settings, SETUP, time=index[signal - tolerance], label="setup")
    add_label(settings, SETUP, time=index[signal + tolerance + 1], label="setup")
    add_label(settings, SETUP, time=index[other + tolerance], label="not")
    add_label(settings, SETUP, time=index[other - tolerance - 1], label="not")
    check = check_labels(settings, SETUP, tolerance_bars=tolerance)
    outcome = dict(zip(check.frame["bar_time"], check.frame["outcome"], strict=True))
    assert outcome == {index[signal - tolerance]: "true_positive",
                       index[signal + tolerance + 1]: "missed",
                       index[other + tolerance]: "false_positive",
                       index[other - tolerance - 1]: "true_negative"}


def test_a_label_inside_a_bar_counts_for_that_bar(settings, bars):
    index, positions = bars
    signal = isolated(positions)[0]
    add_label(settings, SETUP, time=index[signal] + pd.Timedelta(minutes=4), label="setup")
    [row] = check_labels(settings, SETUP, tolerance_bars=0).frame.to_dict("records")
    assert row["bar_time"] == index[signal] and row["outcome"] == "true_positive"


def test_labels_outside_the_stored_candles_are_not_counted(settings, bars):
    index, _ = bars
    add_label(settings, SETUP, time=index[0] - pd.Timedelta(days=30), label="setup")
    check = check_labels(settings, SETUP)
    assert list(check.frame["outcome"]) == ["no_candles"]
    assert check.precision is None and check.recall is None
    assert "1 labels outside the stored candles" in check.summary()


def test_no_labels_is_an_empty_check(settings):
    check = check_labels(settings, SETUP)
    assert check.frame.empty and check.recall is None and check.signals == 0


def test_pictures_of_the_disagreements(settings, bars, tmp_path):
    index, positions = bars
    signal = isolated(positions)[0]
    add_label(settings, SETUP, time=index[signal], label="not")
    add_label(settings, SETUP, time=index[signal] + pd.Timedelta(hours=5), label="setup")
    check = check_labels(settings, SETUP)
    written = write_pictures(check, tmp_path / "pictures")
    assert len(written) == len(check.disagreements) >= 1
    for path in written:
        assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(DataError, match="no label"):
        disagreement_png(check, "nope")


def test_the_cli_adds_imports_lists_and_checks(demo_home, bars, tmp_path, monkeypatch):
    from rich.console import Console
    from typer.testing import CliRunner

    from engine.cli import app

    monkeypatch.setattr("engine.cli.labels.console", Console(width=200))
    monkeypatch.setenv("ITA_HOME", str(demo_home))
    monkeypatch.setenv("ITA_ANALYST", "cli-labels")
    index, positions = bars
    signal = isolated(positions)[0]
    runner = CliRunner()
    added = runner.invoke(app, ["labels", "add", SETUP, "--time", f"{index[signal]:%Y-%m-%d %H:%M}",
                                "--label", "not", "--note", "too late"])
    assert added.exit_code == 0, added.output
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "a.png").write_bytes(png())
    (folder / "a.yaml").write_text(f"symbol: BTC/USDT\ntime: '{index[signal + 30]}'\n"
                                   "label: setup\n")
    (folder / "b.png").write_bytes(png((1, 2, 3)))
    (folder / "b.yaml").write_text("symbol: BTC/USDT\nlabel: setup\n")
    imported = runner.invoke(app, ["labels", "add", SETUP, "--folder", str(folder)])
    assert imported.exit_code == 1
    assert "b.yaml: time: is required" in imported.output
    assert "added 1 labels" in imported.output
    listed = runner.invoke(app, ["labels", "list", SETUP])
    assert listed.exit_code == 0 and "not_setup" in listed.output
    checked = runner.invoke(app, ["labels", "check", SETUP, "--tolerance", "2", "--pictures",
                                  str(tmp_path / "pictures")])
    assert checked.exit_code == 0, checked.output
    assert ("precision 0.00 (0 of 1 labels where ITA signals are setups) · recall 0.00 (0 of 1 "
            "setups found) · ±2 bars") in checked.output
    assert "wrote 2 pictures" in checked.output
    assert len(list((tmp_path / "pictures").glob("*.png"))) == 2
