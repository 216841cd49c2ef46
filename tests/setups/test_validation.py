"""A bad value in a setup is refused when the setup is validated, with its file, line and field
(never a crash later at compile time or in a daemon job), and every problem of a file is
reported at once."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from engine.candles import resample
from engine.cli import app
from engine.errors import SetupError
from engine.setups import compile_setup, parse_setup

BASE = """\
id: demo
name: Demo
market: {timeframe: 1m}
conditions:
  gap:
    detector: fvg
    min_size_atr: 0.5
  pdh: {detector: sweep, of: previous_day, day_boundary: "00:00", day_tz: UTC}
signal: {all: [gap, pdh]}
filters:
  hours: {start: "08:00", end: "12:00", tz: UTC}
plan:
  stop: {percent: 1}
  target: {r_multiple: 2}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SetupError) as error:
        parse_setup(text, source="demo.yaml")
    return str(error.value).splitlines()


def test_the_base_setup_is_valid_and_compiles(demo_candles) -> None:
    setup = parse_setup(BASE)
    compile_setup(setup)(resample(demo_candles.iloc[:3000], "1m"), symbol="BTC/USDT")


@pytest.mark.parametrize("change,expected", [
    (('start: "08:00"', 'start: "25:00"'),
     "demo.yaml:11: filters.hours.start: use HH:MM on a 24-hour clock"),
    (('start: "08:00"', 'start: "9am"'),
     "demo.yaml:11: filters.hours.start: use HH:MM on a 24-hour clock"),
    (('end: "12:00"', 'end: "12:60"'), "demo.yaml:11: filters.hours.end: use HH:MM"),
    (('start: "08:00"', 'start: "12:00"'),
     "demo.yaml:11: filters.hours: start and end are both 12:00"),
    (("tz: UTC}", "tz: Europe/Londn}"),
     "demo.yaml:11: filters.hours.tz: unknown time zone 'Europe/Londn' — did you mean "
     "'Europe/London'?"),
    (("tz: UTC}", "tz: europe/london}"),
     "demo.yaml:11: filters.hours.tz: unknown time zone 'europe/london' — did you mean "
     "'Europe/London'?"),
    (("tz: UTC}", 'tz: "+02:00"}'),
     "demo.yaml:11: filters.hours.tz: '+02:00' is a fixed UTC offset, not a time zone"),
    (("day_tz: UTC", "day_tz: Mars/Base"), "demo.yaml:8: conditions.pdh.day_tz: unknown time "
                                           "zone 'Mars/Base'"),
    (('day_boundary: "00:00"', 'day_boundary: "24:00"'),
     "demo.yaml:8: conditions.pdh.day_boundary: use HH:MM"),
    (("timeframe: 1m}", "timeframe: 7x}"), "demo.yaml:3: market.timeframe: must be one of"),
    (("timeframe: 1m}", "timeframe: 15m, context_timeframe: 5m}"),
     "demo.yaml:3: market.context_timeframe: 5m must be longer than timeframe (15m)"),
    (("id: demo", "id: ../x"), "demo.yaml:1: id: '../x' is not allowed"),
    (("id: demo", "id: CON"), "demo.yaml:1: id: 'CON' is a reserved device name"),
])
def test_bad_values_are_refused_with_line_and_field(change, expected) -> None:
    text = BASE.replace(*change)
    assert text != BASE
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize("block,expected", [
    ("rsi: {detector: rsi, above: 70, below: 30}",
     "demo.yaml:9: conditions.extra: above (70) must be lower than below (30)"),
    ("vol: {detector: atr, min_pct: 2, max_pct: 1}",
     "demo.yaml:9: conditions.extra: min_pct (2) is above max_pct (1)"),
])
def test_filters_that_can_never_pass_are_refused(block, expected) -> None:
    block = "extra: " + block.split(": ", 1)[1]
    text = BASE.replace("signal: {all: [gap, pdh]}",
                        f"  {block}\nsignal: {{all: [gap, pdh, extra]}}")
    assert any(p.startswith(expected) for p in problems(text)), problems(text)


def test_a_symbol_that_cannot_be_a_file_name_is_refused() -> None:
    text = BASE.replace("market: {timeframe: 1m}", "market: {timeframe: 1m, symbols: [.hidden]}")
    assert problems(text)[0].startswith("demo.yaml:3: market.symbols.0: symbol '.hidden' is not "
                                        "allowed")


def test_an_id_that_is_a_safe_name_is_accepted() -> None:
    """The schema accepts exactly what `engine.ids.checked_id` accepts."""
    assert parse_setup(BASE.replace("id: demo", "id: London_FVG.v2")).id == "London_FVG.v2"


OPTIMISE = BASE + """\
optimise:
  conditions.gap.min_size_atrr: {low: 0, high: 1}
  conditions.gap.min_size_atr: {low: -1, high: 1}
  conditions.gap.direction: {low: 0, high: 1}
  plan.target.r_multiple: {low: 1, high: 3, step: 0.5}
"""


def test_optimise_ranges_must_point_at_numbers_within_their_limits() -> None:
    assert problems(OPTIMISE) == [
        "demo.yaml:16: optimise.conditions.gap.min_size_atrr: no such parameter in this setup "
        "— did you mean 'conditions.gap.min_size_atr'?",
        "demo.yaml:17: optimise.conditions.gap.min_size_atr: low (-1) is not a valid "
        "min_size_atr: Input should be greater than or equal to 0",
        "demo.yaml:18: optimise.conditions.gap.direction: 'any' is not a number, so it cannot "
        "be optimised",
    ]


def test_cross_field_rules_are_left_to_each_optimisation_trial() -> None:
    text = BASE.replace("signal: {all: [gap, pdh]}", "  cross: {detector: ma_cross, fast: 10, "
                        "slow: 30}\nsignal: {all: [gap, pdh, cross]}") + (
        "optimise:\n  conditions.cross.fast: {low: 5, high: 40}\n")
    assert parse_setup(text).optimise["conditions.cross.fast"].high == 40


# --- every problem at once ----------------------------------------------------------------

MANY = """\
id: demo
nmae: Demo
market: {timeframe: 7x}
conditions:
  gap:
    detector: fvg
    min_size_atr: -1
signal: {alll: [gap]}
filters:
  hours: {start: "9am", end: "12:00", tz: Europe/Londn}
plan:
  stop: {percent: 1}
  target: {r_multiple: 2}
"""


def test_every_problem_is_listed_with_its_line_in_file_order() -> None:
    found = problems(MANY)
    assert [p.split(": ")[0] for p in found] == [
        "demo.yaml:2", "demo.yaml:3", "demo.yaml:7", "demo.yaml:8", "demo.yaml:10",
        "demo.yaml:10"]
    assert found[0] == "demo.yaml:2: nmae: unknown field 'nmae' — did you mean 'name'?"
    assert not any("missing required field 'name'" in p for p in found)  # the same typo
    assert found[3] == ("demo.yaml:8: signal: expected a condition name, or a mapping with one "
                        "of all, any, not, sequence; got keys 'alll' — did you mean 'all'?")


def test_a_misspelt_required_key_is_one_problem_not_two() -> None:
    text = BASE.replace("stop: {percent: 1}", "stop: {percent: 1}\n  tagret: {r_multiple: 2}")
    text = text.replace("  target: {r_multiple: 2}\n", "")
    assert problems(text) == ["demo.yaml:14: plan.tagret: unknown field 'tagret' — did you "
                              "mean 'target'?"]


def test_a_signal_tree_error_names_the_alternative_the_user_wrote() -> None:
    text = BASE.replace("signal: {all: [gap, pdh]}", "signal: {sequence: [gap, pdh]}")
    assert problems(text) == ["demo.yaml:9: signal.within_bars: missing required field "
                              "'within_bars'"]


def test_duplicate_keys_are_refused_not_silently_dropped() -> None:
    text = BASE.replace("  target: {r_multiple: 2}", "  target: {r_multiple: 2}\n"
                                                      "  stop: {percent: 2}")
    assert problems(text) == ["demo.yaml:15: plan.stop: duplicate key 'stop' (first on line "
                              "13); YAML would keep only the last one"]


def test_an_unknown_condition_does_not_also_report_the_unused_one_it_misspells() -> None:
    text = BASE.replace("signal: {all: [gap, pdh]}", "signal: {all: [gapp, pdh]}")
    assert problems(text) == ["demo.yaml:9: signal: signal uses unknown condition 'gapp' — "
                              "did you mean 'gap'?"]


def test_validate_command_prints_every_problem_and_fails(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MANY)
    result = CliRunner().invoke(app, ["setup", "validate", str(bad)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1] == f"{bad}: 6 problems"
    assert all(line.startswith(f"{bad}:") for line in lines)
    assert f"{bad}:10: filters.hours.tz: unknown time zone 'Europe/Londn'" in result.output


def test_a_backtest_job_with_an_unknown_sizing_kind_is_refused_when_submitted() -> None:
    """Not later, as a KeyError inside the daemon's job."""
    from engine.errors import JobError
    from engine.jobs.kinds import KINDS

    with pytest.raises(JobError, match="job parameter sizing: Input should be 'risk_percent'"):
        KINDS["backtest"].validate({"setup": "sma-cross", "sizing": "kelly"})
    assert KINDS["backtest"].validate({"setup": "sma-cross", "sizing": "fixed_cash"})
