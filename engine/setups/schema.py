"""The setup language: a typed schema for a trader's rule (pydantic v2).

A setup names a market, a set of named **conditions** (detector blocks), a **signal** tree that
combines them (``all``, ``any``, ``not``, ``sequence``), **filters**, the trade **plan** (entry,
stop, target, breakeven, partial, time exit), **risk**, **costs**, and optional parameter ranges
to **optimise**. Every field carries a description and limits: the YAML editor, the visual
editor's side panel and the docs read them.

>>> Setup.model_validate({"id": "demo", "name": "Demo", "market": {"timeframe": "5m"},
...     "conditions": {"gap": {"detector": "fvg"}}, "signal": "gap",
...     "plan": {"stop": {"percent": 1.0}, "target": {"r_multiple": 2.0}}}).id
'demo'
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)

from engine.candles import TIMEFRAMES, timeframe_delta
from engine.setups import _fields

SCHEMA_VERSION = 1
Direction = Literal["bullish", "bearish", "any"]
Side = Literal["high", "low", "any"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: ``HH:MM`` on a 24-hour clock (00:00-23:59).
ClockTime = Annotated[str, AfterValidator(_fields.clock_time)]
#: An IANA time-zone name, checked against the time-zone database (tzdata).
TimeZone = Annotated[str, AfterValidator(_fields.time_zone)]
Symbol = Annotated[str, AfterValidator(_fields.symbol)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- condition blocks ---------------------------------------------------------------------

class FvgBlock(Strict):
    """Fair value gap: a 3-candle imbalance (engine.detect.fvg)."""

    detector: Literal["fvg"] = Field(description="Fair value gap / imbalance")
    direction: Direction = Field("any", description="bullish gaps (up), bearish, or any")
    min_size_atr: float = Field(0.0, ge=0, le=20, description="Minimum gap size in ATR(14)")
    min_size_pct: float = Field(0.0, ge=0, le=50, description="Minimum gap size in % of price")
    displacement_candle: bool = Field(
        False, description="Require the middle candle to close in the gap's direction")
    event: Literal["formed", "touched"] = Field(
        "formed", description="formed: when the gap appears; touched: when price first "
                              "trades back into it (a retest)")


class SwingBlock(Strict):
    """A confirmed swing high or low (fractal), known `length` bars after the pivot."""

    detector: Literal["swing"] = Field(description="Swing high / low (fractal)")
    side: Side = Field("any", description="Swing highs, swing lows, or any")
    length: int = Field(5, ge=1, le=100, description="Bars on each side of the pivot")


class SweepBlock(Strict):
    """Liquidity sweep: price trades beyond a level and closes back inside within N bars."""

    detector: Literal["sweep"] = Field(description="Liquidity sweep of a reference level")
    of: Literal["swing", "session", "previous_day", "previous_week", "equal_levels"] = Field(
        "swing", description="Which levels are swept")
    session: str | None = Field(None, description="For of=session: asia, london, new_york, ...")
    side: Side = Field("any", description="Sweep of highs (bearish idea), lows (bullish), any")
    reclaim_bars: int = Field(1, ge=1, le=100,
                              description="Bars allowed to close back inside the level")
    length: int = Field(5, ge=1, le=100, description="Swing length for swing/equal levels")
    tolerance_pct: float = Field(0.05, gt=0, le=5,
                                 description="Equal-levels tolerance in % of price")
    day_boundary: ClockTime = Field("00:00", description="Start of the day for previous "
                                                          "day/week, HH:MM")
    day_tz: TimeZone = Field("UTC", description="Time zone of the day boundary (IANA name, "
                                                "e.g. Europe/London)")

    @model_validator(mode="after")
    def _session_given(self) -> SweepBlock:
        if self.of == "session" and not self.session:
            raise ValueError("of=session needs `session` (asia, london, new_york, ...)")
        return self


class StructureBlock(Strict):
    """Break of structure / change of character at the breaking candle."""

    detector: Literal["structure"] = Field(description="Break of structure / change of "
                                                       "character")
    kind: Literal["bos", "choch", "any"] = Field("any", description="bos, choch or any")
    direction: Direction = Field("any", description="Bullish (close above a swing high), "
                                                    "bearish, or any")
    length: int = Field(5, ge=1, le=100, description="Swing length")


class OrderBlockBlock(Strict):
    """Order block: the last opposite candle before a structure-breaking displacement."""

    detector: Literal["order_block"] = Field(description="Order block")
    direction: Direction = Field("any", description="bullish, bearish or any")
    length: int = Field(5, ge=1, le=100, description="Swing length of the structure break")
    event: Literal["formed", "retest"] = Field(
        "retest", description="formed: at the break; retest: when price first returns into "
                              "the block")


class EqualLevelsBlock(Strict):
    """Equal highs / lows: resting liquidity."""

    detector: Literal["equal_levels"] = Field(description="Equal highs / lows")
    side: Side = Field("any", description="Equal highs, equal lows, or any")
    length: int = Field(5, ge=1, le=100, description="Swing length")
    tolerance_pct: float = Field(0.05, gt=0, le=5, description="Tolerance in % of price")


class MaTrendBlock(Strict):
    """Trend filter: close above (bullish) or below (bearish) a moving average."""

    detector: Literal["ma_trend"] = Field(description="Moving-average trend filter")
    kind: Literal["ema", "sma"] = Field("ema", description="EMA or SMA")
    period: int = Field(50, ge=2, le=1000, description="Moving-average period")
    direction: Literal["bullish", "bearish"] = Field("bullish",
                                                     description="Close above or below")
    timeframe: Literal["base", "context"] = Field(
        "base", description="base: the setup's timeframe; context: its context timeframe "
                            "(used only once the context bar has closed)")


class MaCrossBlock(Strict):
    """Fast moving average crosses the slow one."""

    detector: Literal["ma_cross"] = Field(description="Moving-average crossover")
    kind: Literal["ema", "sma"] = Field("sma", description="EMA or SMA")
    fast: int = Field(10, ge=1, le=1000, description="Fast period")
    slow: int = Field(30, ge=2, le=1000, description="Slow period")
    direction: Direction = Field("any", description="bullish: fast crosses above slow")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> MaCrossBlock:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


class RsiBlock(Strict):
    """RSI filter: above and/or below thresholds."""

    detector: Literal["rsi"] = Field(description="RSI filter")
    period: int = Field(14, ge=2, le=500, description="RSI period")
    above: float | None = Field(None, ge=0, le=100, description="True when RSI is above this")
    below: float | None = Field(None, ge=0, le=100, description="True when RSI is below this")

    @model_validator(mode="after")
    def _band(self) -> RsiBlock:
        if self.above is not None and self.below is not None and self.above >= self.below:
            raise ValueError(f"above ({self.above:g}) must be lower than below ({self.below:g}):"
                             " RSI is never above and below such a band at once")
        return self


class AtrBlock(Strict):
    """Volatility filter on ATR in % of price."""

    detector: Literal["atr"] = Field(description="ATR volatility filter")
    period: int = Field(14, ge=2, le=500, description="ATR period")
    min_pct: float | None = Field(None, ge=0, description="True when ATR% is at least this")
    max_pct: float | None = Field(None, ge=0, description="True when ATR% is at most this")

    @model_validator(mode="after")
    def _band(self) -> AtrBlock:
        _min_below_max(self.min_pct, self.max_pct, "min_pct", "max_pct")
        return self


def _min_below_max(low: float | None, high: float | None, low_name: str, high_name: str) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"{low_name} ({low:g}) is above {high_name} ({high:g}): nothing passes")


class SessionBlock(Strict):
    """True while the bar is inside a session or kill zone."""

    detector: Literal["session"] = Field(description="Inside a session / kill zone")
    session: str = Field(description="asia, london, new_york, london_kz, ny_am_kz, ...")


Condition = Annotated[
    FvgBlock | SwingBlock | SweepBlock | StructureBlock | OrderBlockBlock | EqualLevelsBlock
    | MaTrendBlock | MaCrossBlock | RsiBlock | AtrBlock | SessionBlock,
    Field(discriminator="detector"),
]
DETECTOR_BLOCKS = {b.model_fields["detector"].annotation.__args__[0]: b for b in (
    FvgBlock, SwingBlock, SweepBlock, StructureBlock, OrderBlockBlock, EqualLevelsBlock,
    MaTrendBlock, MaCrossBlock, RsiBlock, AtrBlock, SessionBlock)}
EVENT_DETECTORS = {"fvg", "swing", "sweep", "structure", "order_block", "equal_levels",
                   "ma_cross"}
#: Attributes a plan may reference as `<condition>.<attribute>`.
ATTRIBUTES = ("top", "bottom", "mid", "level", "extreme")


# --- signal tree --------------------------------------------------------------------------

class AllOf(Strict):
    all_: list[SignalNode] = Field(alias="all", min_length=1,
                                   description="True when every item is true on the bar")


class AnyOf(Strict):
    any_: list[SignalNode] = Field(alias="any", min_length=1,
                                   description="True when at least one item is true")


class NotOf(Strict):
    not_: SignalNode = Field(alias="not", description="True when the item is false")


class Sequence(Strict):
    sequence: list[SignalNode] = Field(min_length=2, description="Steps in order: A, then B")
    within_bars: int = Field(ge=1, le=10_000,
                             description="The last step happens at most this many bars after "
                                         "the first")


SignalNode = str | AllOf | AnyOf | NotOf | Sequence
for _model in (AllOf, AnyOf, NotOf, Sequence):
    _model.model_rebuild()


# --- filters, plan, risk, costs -----------------------------------------------------------

class Hours(Strict):
    start: ClockTime = Field(description="HH:MM, inclusive (24-hour clock, 00:00-23:59)")
    end: ClockTime = Field(description="HH:MM, exclusive; earlier than start means the window "
                                       "runs past midnight")
    tz: TimeZone = Field("UTC", description="Time zone of the hours (IANA name, e.g. "
                                            "America/New_York)")

    @model_validator(mode="after")
    def _not_empty(self) -> Hours:
        if self.start == self.end:
            raise ValueError(f"start and end are both {self.start}: give a window, e.g. "
                             "start 08:00, end 12:00")
        return self


class Filters(Strict):
    sessions: list[str] | None = Field(None, description="Only inside these sessions")
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = Field(
        None, description="Only on these weekdays (UTC)")
    hours: Hours | None = Field(None, description="Only between these local times")
    min_atr_pct: float | None = Field(None, ge=0, description="Minimum ATR(14) in % of price")
    max_atr_pct: float | None = Field(None, ge=0, description="Maximum ATR(14) in % of price")

    @model_validator(mode="after")
    def _band(self) -> Filters:
        _min_below_max(self.min_atr_pct, self.max_atr_pct, "min_atr_pct", "max_atr_pct")
        return self


class Market(Strict):
    symbols: list[Symbol] = Field(default_factory=lambda: ["BTC/USDT"], min_length=1,
                               description="Symbols the setup trades, e.g. BTC/USDT, EURUSD")
    timeframe: str = Field(description="Bar length the setup is evaluated on")
    context_timeframe: str | None = Field(None, description="Higher timeframe for bias filters")

    @field_validator("timeframe", "context_timeframe")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in TIMEFRAMES:
            raise ValueError(f"must be one of {', '.join(TIMEFRAMES)}")
        return value

    @model_validator(mode="after")
    def _context_is_higher(self) -> Market:
        context = self.context_timeframe
        if context and timeframe_delta(context) <= timeframe_delta(self.timeframe):
            raise ValueError(f"context_timeframe: {context} must be longer than timeframe "
                             f"({self.timeframe})")
        return self


LevelRef = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+\.(top|bottom|mid|level|extreme)$",
                                description="<condition>.<top|bottom|mid|level|extreme>")]


class Entry(Strict):
    type: Literal["market", "limit"] = Field("market", description="market: next bar's open; "
                                                                   "limit: at `level`")
    level: LevelRef | None = Field(None, description="Limit price reference")
    expiry_bars: int = Field(10, ge=1, le=10_000, description="Bars a limit order works")

    @model_validator(mode="after")
    def _limit_needs_level(self) -> Entry:
        if self.type == "limit" and not self.level:
            raise ValueError("a limit entry needs `level`, e.g. gap.top")
        return self


class Stop(Strict):
    level: LevelRef | None = Field(None, description="Stop at this level, e.g. sweep.extreme")
    percent: float | None = Field(None, gt=0, le=50, description="Or: % away from the entry")
    buffer_atr: float = Field(0.0, ge=0, le=20, description="Extra distance in ATR(14)")
    buffer_pct: float = Field(0.0, ge=0, le=20, description="Extra distance in % of price")
    min_atr: float | None = Field(
        None, gt=0, le=50,
        description="Skip signals whose stop is closer to the entry than this many ATR(14) of "
                    "the signal bar (counted as filtered_stop_too_tight)")
    min_cost_multiple: float | None = Field(
        None, gt=0, le=1000,
        description="Skip signals whose stop is closer to the entry than this many round-trip "
                    "costs, (2 x fee_bps + 2 x slippage_bps) / 10000 x entry, from `costs` "
                    "(counted as filtered_stop_too_tight); 3 keeps costs under a third of 1 R")

    @model_validator(mode="after")
    def _one_anchor(self) -> Stop:
        if (self.level is None) == (self.percent is None):
            raise ValueError("give exactly one of `level` or `percent`")
        return self

    @model_serializer(mode="wrap")
    def _without_unset_guards(self, handler):
        """Leave the stop guards out while they are off, so the rule (and its `rule_hash`) of a
        setup that does not use them is what it was before they existed."""
        data = handler(self)
        for name in STOP_GUARDS:
            if data.get(name) is None:
                data.pop(name, None)
        return data


#: Stop-distance guards: signals failing them are dropped by the compiled setup.
STOP_GUARDS = ("min_atr", "min_cost_multiple")


class Target(Strict):
    r_multiple: float | None = Field(None, gt=0, le=100, description="Reward as a multiple of "
                                                                     "risk (R)")
    level: LevelRef | None = Field(None, description="Or: at this level")
    percent: float | None = Field(None, gt=0, le=100, description="Or: % away from the entry")

    @model_validator(mode="after")
    def _one_anchor(self) -> Target:
        if sum(v is not None for v in (self.r_multiple, self.level, self.percent)) != 1:
            raise ValueError("give exactly one of `r_multiple`, `level` or `percent`")
        return self


class Partial(Strict):
    at_r: float = Field(gt=0, le=100, description="Take a partial exit at this R")
    fraction: float = Field(gt=0, lt=1, description="Fraction of the position closed")


class Plan(Strict):
    entry: Entry = Field(default_factory=Entry, description="How the trade is entered")
    stop: Stop = Field(description="Where the trade is wrong")
    target: Target = Field(description="Where profit is taken")
    breakeven_at_r: float | None = Field(None, gt=0, le=100,
                                         description="Move the stop to entry at this R")
    partial: Partial | None = Field(None, description="Optional partial exit")
    time_exit_bars: int | None = Field(None, ge=1, le=100_000,
                                       description="Close after this many bars")


class Risk(Strict):
    percent: float = Field(0.5, gt=0, le=100, description="Equity risked per trade, %")


class Costs(Strict):
    fee_bps: float = Field(5.0, ge=0, le=1000, description="Fee per side, basis points")
    slippage_bps: float = Field(2.0, ge=0, le=1000,
                                description="Adverse slippage on market fills and stops, bps")


class ParamRange(Strict):
    low: float = Field(description="Lowest value tried")
    high: float = Field(description="Highest value tried")
    step: float | None = Field(None, gt=0, description="Grid step (None: continuous)")

    @model_validator(mode="after")
    def _ordered(self) -> ParamRange:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        return self


QUOTE_CHARS = 300


class Source(Strict):
    """A passage of the trader's knowledge base this setup formalises (`ita kb search`)."""

    source: str = Field(min_length=1, max_length=500,
                        description="The document's key in the shared folder, e.g. "
                                    "theory/smc-book--1a2b3c4d.pdf")
    page: int | None = Field(None, ge=1, le=100_000, description="Page of the passage (PDF)")
    chunk: str | None = Field(None, max_length=600,
                              description="The passage's id in the knowledge base")
    quote: str = Field("", max_length=QUOTE_CHARS,
                       description=f"The words of the rule, at most {QUOTE_CHARS} characters")

    @field_validator("source")
    @classmethod
    def _document_key(cls, value: str) -> str:
        return _fields.document_key(value)


class Setup(Strict):
    schema_version: Literal[1] = Field(SCHEMA_VERSION, description="Version of this format")
    id: Annotated[str, AfterValidator(_fields.setup_id)] = Field(
        description="Short unique name (it names the setup's folder): letters, digits, '-', "
                    "'_' and '.', e.g. london-sweep-fvg")
    name: str = Field(min_length=1, max_length=200, description="Human name")
    description: str = Field("", max_length=5000, description="What the idea is and why")
    tags: list[str] = Field(default_factory=list, description="Free labels")
    market: Market = Field(description="What and on which timeframe")
    conditions: dict[str, Condition] = Field(min_length=1, description="Named detector blocks")
    signal: SignalNode = Field(description="How the conditions combine into a signal")
    filters: Filters = Field(default_factory=Filters, description="When signals are allowed")
    direction: Literal["long", "short", "both"] = Field(
        "both", description="long, short, or both (from the triggering condition)")
    plan: Plan = Field(description="Entry, stop, target and management")
    risk: Risk = Field(default_factory=Risk, description="Position sizing")
    costs: Costs = Field(default_factory=Costs, description="Fees and slippage")
    optimise: dict[str, ParamRange] = Field(default_factory=dict,
                                            description="Parameter ranges (paths into this "
                                                        "setup) for optimisation")
    sources: list[Source] = Field(
        default_factory=list, max_length=50,
        description="Passages of the knowledge base this rule formalises; their backtests "
                    "are shown next to them")

    @model_validator(mode="after")
    def _references(self) -> Setup:
        from engine.setups._checks import check_references

        check_references(self)
        return self

    @model_serializer(mode="wrap")
    def _without_empty_sources(self, handler):
        """Leave `sources` out while there are none, so the rule (and its `rule_hash`) of a
        setup that cites nothing is what it was before citations existed."""
        data = handler(self)
        if not data.get("sources"):
            data.pop("sources", None)
        return data


def signal_names(node: SignalNode) -> list[str]:
    """Condition names used in a signal tree, in order of appearance."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, AllOf):
        return [n for child in node.all_ for n in signal_names(child)]
    if isinstance(node, AnyOf):
        return [n for child in node.any_ for n in signal_names(child)]
    if isinstance(node, NotOf):
        return signal_names(node.not_)
    return [n for child in node.sequence for n in signal_names(child)]
