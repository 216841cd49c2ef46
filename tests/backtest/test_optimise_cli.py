"""`ita optimise` resumes a study only on the same inputs; `ita walkforward` runs end to end."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.demo import run_demo
from engine.errors import ConfigurationError, DataError
from engine.setups.store import SetupStore


@pytest.fixture()
def home(ita_home):
    run_demo()
    return ita_home


def _optimise(*args: str):
    return CliRunner().invoke(app, ["optimise", "sma-cross", "--trials", "3", "--jobs", "1",
                                    "--min-trades", "1", *args])


def test_optimise_cli_resumes_only_the_study_of_the_same_inputs(home) -> None:
    first = _optimise("--to", "2023-03-03")
    assert first.exit_code == 0, first.output
    name = re.search(r"study (\S+)", first.output).group(1)
    assert name.startswith("sma-cross-v1-expectancy_r-") and "resumed" not in first.output
    again = _optimise("--to", "2023-03-03")
    assert f"study {name}, resumed after 3 trials" in again.output
    other = _optimise("--from", "2023-03-02", "--to", "2023-03-03")  # other data: a new study
    assert other.exit_code == 0, other.output
    assert name not in other.output and "resumed" not in other.output
    forced = _optimise("--study", name, "--from", "2023-03-02", "--to", "2023-03-03", "--save")
    assert isinstance(forced.exception, ConfigurationError)
    assert "was scored on data_start" in str(forced.exception)
    assert [v.version for v in SetupStore.from_settings().versions("sma-cross")] == [1]


def test_optimise_cli_saves_nothing_when_no_trial_scored(home) -> None:
    result = _optimise("--to", "2023-03-02", "--min-trades", "100000", "--save")
    assert isinstance(result.exception, DataError)
    assert "no trial reached 100000 trades" in str(result.exception)
    assert [v.version for v in SetupStore.from_settings().versions("sma-cross")] == [1]


def test_walkforward_cli_prints_windows_and_the_stitched_result(home) -> None:
    result = CliRunner().invoke(app, ["walkforward", "sma-cross", "--to", "2023-03-04",
                                      "--train", "1500", "--test", "500", "--trials", "2",
                                      "--min-trades", "1"])
    assert result.exit_code == 0, result.output
    assert "Still open at the end" in result.output and "test_trades" in result.output
