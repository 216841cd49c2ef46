"""The trader's labels: "a setup here" / "not a setup" on one bar, and the detector checked
against them.

On disk (one writer: the analyst; `engine.kb.shared`):

    shared_kb/analysts/<ITA_ANALYST>/labels/
        <label_id>.yaml          one label (`Label`), written atomically
        <sha256-12>.png|.jpg     screenshots, named by their content (one image kept once),
                                 checked as the journal's (PNG/JPEG, at most 5 MB)

A label is one bar of one setup on one symbol: the id is made from (setup id, symbol,
timeframe, time), so labelling the same bar again replaces the label, whole.

`check_labels` runs the setup's detector on the stored candles of each labelled symbol and
compares: a "setup" label with a signal within ±N bars is a true positive, without one it is
missed; a "not_setup" label with a signal within ±N bars is a false positive, without one a
true negative. Bars are counted on the setup's timeframe along the stored candles (a weekend
gap is no bars). Precision = TP / (TP + FP), recall = TP / (TP + missed), both over labels.

Sidecars for a folder of screenshots (``chart1.png`` + ``chart1.yaml``)::

    symbol: BTC/USDT
    timeframe: 5m          # optional: the setup's timeframe
    time: 2023-03-07 15:20 # the bar's open time; UTC unless it carries an offset
    label: setup           # setup | not_setup (also: not, no)
    note: clean sweep of Asia low   # optional

Each label remembers where it came from (`SOURCES`): a click on the app's chart, a screenshot
(uploaded in the app or imported from a folder) or the CLI; a label written before sources
were kept reads as "screenshot" when it has one, else "cli".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from engine._io import create_exclusive, write_text_atomic
from engine.adapters.journal import image_extension
from engine.candles import timeframe_delta
from engine.errors import ConfigurationError, DataError, ItaError
from engine.ids import checked_id

KINDS = ("setup", "not_setup")
_ALIASES = {"setup": "setup", "yes": "setup", "not_setup": "not_setup", "not": "not_setup",
            "no": "not_setup", "not-setup": "not_setup", "notsetup": "not_setup"}
OUTCOMES = ("true_positive", "missed", "false_positive", "true_negative", "no_candles")
DISAGREEMENTS = ("missed", "false_positive")
_IMAGES = (".png", ".jpg", ".jpeg")
_SIDECAR_FIELDS = {"symbol", "timeframe", "time", "label", "note"}
SOURCES = ("chart", "screenshot", "cli")


def labels_dir(settings) -> Path:
    """``shared_kb/analysts/<analyst>/labels`` for these settings."""
    analyst = checked_id(settings.analyst, what="analyst name (ITA_ANALYST)",
                         error=ConfigurationError)
    return settings.shared_kb_dir / "analysts" / analyst / "labels"


def parse_kind(value: object) -> str:
    """``setup`` or ``not_setup`` from what a trader types (``not``, ``no``, ``yes`` too)."""
    kind = _ALIASES.get(str(value).strip().lower()) if value is not None else None
    if kind is None:
        raise ValueError(f"must be 'setup' or 'not_setup', got {value!r}")
    return kind


def parse_time(value: object, *, tz="UTC") -> pd.Timestamp:
    """A UTC timestamp from text or a datetime; a naive time is taken in `tz` (default UTC:
    the app passes the trader's display zone).

    >>> parse_time("2023-03-07 17:20", tz="Europe/Athens")
    Timestamp('2023-03-07 15:20:00+0000', tz='UTC')
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("is required (the bar's open time, e.g. 2023-03-07 15:20)")
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"{value!r} is not a date and time (e.g. 2023-03-07 15:20)") from None
    if pd.isna(stamp):
        raise ValueError(f"{value!r} is not a date and time")
    if stamp.tzinfo is None:
        try:
            stamp = stamp.tz_localize(tz)
        except (ValueError, TypeError) as error:  # a local time that a clock change skips
            raise ValueError(f"{value!r} does not exist or is ambiguous in {tz} ({error})") \
                from None
    return stamp.tz_convert("UTC")


def label_id(setup_id: str, symbol: str, timeframe: str, time: pd.Timestamp) -> str:
    """``<yyyymmdd-hhmm>-<12 hex>``: stable for one bar of one setup on one symbol."""
    key = f"{setup_id}|{symbol}|{timeframe}|{time.isoformat()}"
    return f"{time:%Y%m%d-%H%M}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class Label(BaseModel):
    """One label as stored (YAML)."""

    model_config = ConfigDict(extra="forbid")

    label_id: str
    setup_id: str
    symbol: str
    timeframe: str
    time: str  # ISO UTC, the bar's open time
    label: str  # "setup" | "not_setup"
    note: str = ""
    screenshot: str | None = None  # file name beside the label
    created_at: str = ""
    source: str = ""  # chart | screenshot | cli ("" before sources were kept: see `origin`)

    @field_validator("label", mode="before")
    @classmethod
    def _kind(cls, value):
        return parse_kind(value)

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value):
        return parse_time(value).isoformat()

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        try:
            timeframe_delta(value)
        except DataError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("setup_id")
    @classmethod
    def _setup(cls, value: str) -> str:
        return checked_id(value, what="setup id", error=DataError)

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is required")
        return value.strip()

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value and value not in SOURCES:
            raise ValueError(f"must be one of {', '.join(SOURCES)}, got {value!r}")
        return value

    @property
    def timestamp(self) -> pd.Timestamp:
        return pd.Timestamp(self.time)

    @property
    def origin(self) -> str:
        """Where the label came from (`SOURCES`), inferred for a label saved without one."""
        return self.source or ("screenshot" if self.screenshot else "cli")


def _validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "label"
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


def make_label(setup_id: str, *, symbol: str, timeframe: str, time, label: str,
               note: str = "", screenshot: str | None = None, source: str = "",
               tz="UTC") -> Label:
    """A validated `Label` (a `DataError` naming the field when a value is wrong); a naive
    `time` is taken in `tz`."""
    try:
        stamp = parse_time(time, tz=tz)
        data = {"setup_id": setup_id, "symbol": symbol, "timeframe": timeframe,
                "time": stamp, "label": label, "note": (note or "").strip(),
                "screenshot": screenshot, "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "source": source,
                "label_id": label_id(setup_id, str(symbol).strip(), timeframe, stamp)}
        return Label.model_validate(data)
    except ValueError as error:  # parse_time's own message
        if isinstance(error, ValidationError):
            raise DataError(_validation_message(error)) from None
        raise DataError(f"time: {error}") from None


class LabelStore:
    """The labels of one analyst (``root`` is their ``labels/`` folder)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings=None) -> LabelStore:
        from engine.settings import get_settings

        return cls(labels_dir(settings or get_settings()))

    def _path(self, ident: str) -> Path:
        return self.root / f"{checked_id(ident, what='label id', error=DataError)}.yaml"

    def _read(self, path: Path) -> Label:
        try:
            return Label.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as error:
            raise DataError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
        except ValidationError as error:
            raise DataError(f"{path}: {_validation_message(error)}") from None

    def labels(self, setup_id: str | None = None) -> list[Label]:
        """Every label (optionally of one setup), by time."""
        if not self.root.is_dir():
            return []
        found = [self._read(p) for p in sorted(self.root.glob("*.yaml"))
                 if not p.name.startswith(".")]
        found = [x for x in found if setup_id is None or x.setup_id == setup_id]
        return sorted(found, key=lambda x: (x.timestamp, x.symbol, x.label_id))

    def labels_in(self, setup_id: str, symbol: str, start, end) -> list[Label]:
        """The setup's labels of `symbol` with a time in [start, end] (UTC), by time: the
        ones to mark on a chart of that window."""
        first, last = parse_time(start), parse_time(end)
        return [x for x in self.labels(setup_id)
                if x.symbol == symbol and first <= x.timestamp <= last]

    def get(self, ident: str) -> Label | None:
        path = self._path(ident)
        return self._read(path) if path.exists() else None

    def save(self, label: Label, screenshot: tuple[str, bytes] | None = None) -> Label:
        """Write `label` (and its screenshot `(name, bytes)`, stored by content) atomically;
        the same bar labelled again replaces the label."""
        if screenshot is not None:
            name, data = screenshot
            extension = image_extension(name, data)
            file_name = f"{hashlib.sha256(data).hexdigest()[:12]}.{extension}"
            create_exclusive(self.root / file_name, data)
            label = label.model_copy(update={"screenshot": file_name})
        text = yaml.safe_dump(label.model_dump(), sort_keys=False, allow_unicode=True)
        write_text_atomic(self._path(label.label_id), text)
        return label

    def screenshot_path(self, label: Label) -> Path | None:
        if not label.screenshot:
            return None
        return self.root / checked_id(label.screenshot, what="screenshot file name",
                                      error=DataError)

    def delete(self, ident: str) -> bool:
        """Remove a label (its screenshot stays while another label uses it)."""
        path = self._path(ident)
        label = self._read(path) if path.exists() else None
        if label is None:
            return False
        path.unlink()
        if label.screenshot and not any(x.screenshot == label.screenshot
                                         for x in self.labels()):
            (self.root / label.screenshot).unlink(missing_ok=True)
        return True


# --- adding -------------------------------------------------------------------------------


def _setup_of(settings, setup_ref: str):
    from engine.setups.store import SetupStore

    return SetupStore.from_settings(settings).load(setup_ref)


def add_label(settings, setup_ref: str, *, symbol: str | None = None, time, label: str,
              timeframe: str | None = None, note: str = "",
              screenshot: Path | None = None) -> Label:
    """Label one bar of a setup (symbol and timeframe default to the setup's)."""
    setup = _setup_of(settings, setup_ref).setup
    made = make_label(setup.id, symbol=symbol or setup.market.symbols[0],
                      timeframe=timeframe or setup.market.timeframe, time=time, label=label,
                      note=note, source="screenshot" if screenshot is not None else "cli")
    shot = None
    if screenshot is not None:
        path = Path(screenshot)
        if not path.is_file():
            raise DataError(f"screenshot {str(path)!r}: no such file")
        shot = (path.name, path.read_bytes())
    return LabelStore.from_settings(settings).save(made, shot)


@dataclass(frozen=True)
class FolderImport:
    added: list[Label]
    errors: list[str]  # one line per bad screenshot or sidecar, naming the file and field


def _sidecar(image: Path) -> Path | None:
    return next((p for p in (image.with_suffix(".yaml"), image.with_suffix(".yml"))
                 if p.is_file()), None)


def _read_sidecar(image: Path, setup) -> tuple[Label, tuple[str, bytes]]:
    sidecar = _sidecar(image)
    if sidecar is None:
        raise DataError(f"{image.name}: no sidecar {image.stem}.yaml beside it (symbol, "
                        "timeframe, time, label)")
    try:
        data = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise DataError(f"{sidecar.name}: not valid YAML ({str(error).splitlines()[0]})") \
            from None
    if not isinstance(data, dict):
        raise DataError(f"{sidecar.name}: must be a mapping of symbol, timeframe, time, label")
    unknown = sorted(set(map(str, data)) - _SIDECAR_FIELDS)
    if unknown:
        raise DataError(f"{sidecar.name}: {unknown[0]}: unknown field (allowed: "
                        f"{', '.join(sorted(_SIDECAR_FIELDS))})")
    for name in ("symbol", "time", "label"):
        if data.get(name) in (None, ""):
            raise DataError(f"{sidecar.name}: {name}: is required")
    try:
        made = make_label(setup.id, symbol=str(data["symbol"]),
                          timeframe=str(data.get("timeframe") or setup.market.timeframe),
                          time=data["time"], label=str(data["label"]),
                          note=str(data.get("note") or ""), source="screenshot")
    except DataError as error:
        raise DataError(f"{sidecar.name}: {error}") from None
    shot = image.read_bytes()
    image_extension(image.name, shot)
    return made, (image.name, shot)


def import_folder(settings, setup_ref: str, folder: Path) -> FolderImport:
    """Every screenshot in `folder` with its sidecar becomes a label; bad ones are reported
    (one line each) and skipped, the good ones are saved."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    setup = _setup_of(settings, setup_ref).setup
    store = LabelStore.from_settings(settings)
    images = sorted(p for p in folder.iterdir()
                    if p.suffix.lower() in _IMAGES and not p.name.startswith("."))
    stems = {p.stem for p in images}
    errors = [f"{p.name}: no screenshot {p.stem}.png or .jpg beside this sidecar"
              for p in sorted(folder.glob("*.y*ml")) if p.stem not in stems
              and p.suffix in (".yaml", ".yml") and not p.name.startswith(".")]
    added = []
    for image in images:
        try:
            made, shot = _read_sidecar(image, setup)
        except ItaError as error:
            errors.append(str(error))
            continue
        added.append(store.save(made, shot))
    if not images and not errors:
        errors.append(f"{folder}: no .png or .jpg screenshots in it")
    return FolderImport(added, errors)


# --- the check ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelCheck:
    """The detector against the trader's labels.

    ``frame``: one row per label, by time — label_id, symbol, time (the label's, UTC),
    bar_time (the setup bar it falls in), label, note, screenshot (path or None), outcome
    (`OUTCOMES`), nearest_signal (known_at of the nearest signal, NaT when none),
    distance_bars (signal bar − label bar, signed; NA when no signal)."""

    setup_id: str
    setup_version: int
    timeframe: str
    tolerance_bars: int
    frame: pd.DataFrame
    signals: int  # signals of the setup on the labelled symbols' stored candles
    detections: dict = field(default_factory=dict, repr=False, compare=False)

    def count(self, outcome: str) -> int:
        return int((self.frame["outcome"] == outcome).sum())

    @property
    def precision(self) -> float | None:
        tp, fp = self.count("true_positive"), self.count("false_positive")
        return tp / (tp + fp) if tp + fp else None

    @property
    def recall(self) -> float | None:
        tp, missed = self.count("true_positive"), self.count("missed")
        return tp / (tp + missed) if tp + missed else None

    @property
    def disagreements(self) -> pd.DataFrame:
        return self.frame[self.frame["outcome"].isin(DISAGREEMENTS)]

    def summary(self) -> str:
        """``precision 0.75 (3 of 4 labels where ITA signals) · recall 0.60 (3 of 5 setups
        found) · ±3 bars``."""
        tp, fp = self.count("true_positive"), self.count("false_positive")
        missed = self.count("missed")

        def share(value):
            return "n/a" if value is None else f"{value:.2f}"

        text = (f"precision {share(self.precision)} ({tp} of {tp + fp} labels where ITA "
                f"signals are setups) · recall {share(self.recall)} ({tp} of {tp + missed} "
                f"setups found) · ±{self.tolerance_bars} bars")
        outside = self.count("no_candles")
        if outside:
            text += f" · {outside} labels outside the stored candles"
        return text


def _nearest(signal_bars: np.ndarray, bar: int) -> int | None:
    """Index into `signal_bars` (sorted) of the signal nearest to `bar` (earlier on a tie)."""
    if not len(signal_bars):
        return None
    i = int(np.searchsorted(signal_bars, bar))
    candidates = [j for j in (i - 1, i) if 0 <= j < len(signal_bars)]
    return min(candidates, key=lambda j: (abs(int(signal_bars[j]) - bar), j))


def _outcome(kind: str, distance: int | None, tolerance: int) -> str:
    near = distance is not None and abs(distance) <= tolerance
    if kind == "setup":
        return "true_positive" if near else "missed"
    return "false_positive" if near else "true_negative"


def _rows_of_symbol(labels: list[Label], detection, store: LabelStore, tolerance: int,
                    bar: pd.Timedelta) -> list[dict]:
    index = detection.candles.index
    known = pd.DatetimeIndex(detection.signals["known_at"]) if len(detection.signals) else \
        pd.DatetimeIndex([], tz="UTC")
    signal_bars = np.sort(index.searchsorted(known, side="right") - 1)
    signal_times = index[signal_bars] if len(signal_bars) else known
    rows = []
    for label in labels:
        stamp = label.timestamp
        bar_time = stamp.floor(bar) if bar <= pd.Timedelta(days=1) else stamp
        inside = index[0] <= bar_time <= index[-1] + bar
        position = int(index.searchsorted(bar_time, side="right")) - 1
        j = _nearest(signal_bars, position) if inside else None
        distance = None if j is None else int(signal_bars[j]) - position
        shot = store.screenshot_path(label)
        rows.append({"label_id": label.label_id, "symbol": label.symbol, "time": stamp,
                     "bar_time": index[position] if inside else bar_time,
                     "label": label.label, "note": label.note,
                     "screenshot": str(shot) if shot else None,
                     "outcome": _outcome(label.label, distance, tolerance) if inside
                     else "no_candles",
                     "nearest_signal": signal_times[j] if j is not None else pd.NaT,
                     "distance_bars": distance})
    return rows


def check_labels(settings, setup_ref: str, *, tolerance_bars: int = 3) -> LabelCheck:
    """The setup version's signals on the stored candles against the analyst's labels of the
    setup (module docstring). A symbol without stored candles is a `DataError`."""
    from engine.adapters.store import CandleStore
    from engine.pipeline import detect_setup
    from engine.setups.store import SetupStore

    if int(tolerance_bars) < 0:
        raise DataError(f"tolerance: must be 0 bars or more, got {tolerance_bars}")
    setups = SetupStore.from_settings(settings)
    version = setups.load(setup_ref)
    setup = version.setup
    store = LabelStore.from_settings(settings)
    labels = store.labels(setup.id)
    bar = timeframe_delta(setup.market.timeframe)
    candles = CandleStore.from_settings(settings)
    rows, detections, signals = [], {}, 0
    for symbol in sorted({x.symbol for x in labels}):
        detection = detect_setup(f"{setup.id}@{version.version}", symbol=symbol,
                                 candle_store=candles, setup_store=setups)
        detections[symbol] = detection
        signals += len(detection.signals)
        rows += _rows_of_symbol([x for x in labels if x.symbol == symbol], detection, store,
                                int(tolerance_bars), bar)
    columns = ["label_id", "symbol", "time", "bar_time", "label", "note", "screenshot",
               "outcome", "nearest_signal", "distance_bars"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["distance_bars"] = frame["distance_bars"].astype("Int64")
    for name in ("time", "bar_time", "nearest_signal"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    frame = frame.sort_values(["time", "symbol", "label_id"], kind="stable")
    return LabelCheck(setup.id, version.version, setup.market.timeframe, int(tolerance_bars),
                      frame.reset_index(drop=True), signals, detections)


# --- pictures -------------------------------------------------------------------------------


def disagreement_png(check: LabelCheck, label_id: str, *, tz="UTC", before: int = 60,
                     after: int = 30) -> bytes:
    """ITA's chart of the bars around one label: candles, the labelled bar (blue band: "your
    label"), the ±N-bar tolerance (light band) and every signal of the setup in the window
    (triangles, with its entry, stop and target as short lines)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.figure import Figure

    from engine.backtest.presentation import zone
    from engine.live.alert import DOWN, UP

    rows = check.frame[check.frame["label_id"] == label_id]
    if rows.empty:
        raise DataError(f"no label {label_id!r} in this check")
    row = rows.iloc[0]
    detection = check.detections[row["symbol"]]
    index = detection.candles.index
    at = int(index.searchsorted(row["bar_time"], side="right")) - 1
    lo, hi = max(at - before, 0), min(at + after + 1, len(index))
    window = detection.candles.iloc[lo:hi]
    x = np.arange(len(window), dtype=float)
    o, h, low, c = (window[k].to_numpy(float) for k in ("open", "high", "low", "close"))
    colors = np.where(c >= o, UP, DOWN)
    figure = Figure(figsize=(9.0, 5.0), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.06, 0.1, 0.9, 0.78))
    n = check.tolerance_bars
    mark = at - lo
    axes.axvspan(mark - n - 0.5, mark + n + 0.5, color="#90caf9", alpha=0.18, lw=0)
    axes.axvspan(mark - 0.5, mark + 0.5, color="#1e88e5", alpha=0.35, lw=0)
    axes.add_collection(LineCollection(np.stack([np.c_[x, low], np.c_[x, h]], axis=1),
                                       colors=colors, linewidths=0.8))
    bodies = [[(i - 0.35, a), (i + 0.35, a), (i + 0.35, b), (i - 0.35, b)]
              for i, a, b in zip(x, o, c, strict=True)]
    axes.add_collection(PolyCollection(bodies, facecolors=colors, edgecolors=colors))
    signals = detection.signals
    inside = signals[(signals["known_at"] >= window.index[0])
                     & (signals["known_at"] <= window.index[-1])]
    for _, signal in inside.iterrows():
        i = float(window.index.searchsorted(signal["known_at"], side="right") - 1)
        up = signal["direction"] > 0
        axes.scatter([i], [signal["entry"]], marker="^" if up else "v", s=80, zorder=5,
                     color=UP if up else DOWN, edgecolors="#263238")
        for level, color in ((signal["stop"], DOWN), (signal["target"], UP)):
            if pd.notna(level):
                axes.hlines(level, i, i + 8, colors=color, lw=1.2, zorder=4)
    axes.set_xlim(-1, len(window))
    levels = inside[["stop", "target"]].to_numpy(float).ravel()
    levels = levels[np.isfinite(levels)]
    bottom, top = min(low.min(), *levels, np.inf), max(h.max(), *levels, -np.inf)
    pad = (top - bottom) * 0.04
    axes.set_ylim(float(bottom - pad), float(top + pad))
    ticks = x[:: max(len(window) // 6, 1)].astype(int)
    local = window.index.tz_convert(zone(tz))
    axes.set_xticks(ticks, [f"{local[t]:%m-%d %H:%M}" for t in ticks], fontsize=8)
    axes.tick_params(axis="y", labelsize=8)
    words = {"missed": "you: setup · ITA: no signal within",
             "false_positive": "you: not a setup · ITA: signal within",
             "true_positive": "you: setup · ITA: signal within",
             "true_negative": "you: not a setup · ITA: no signal within"}
    shown_at = row["bar_time"].tz_convert(zone(tz))
    figure.suptitle(f"{check.setup_id.upper()} v{check.setup_version} · {row['symbol']} "
                    f"{check.timeframe} · {shown_at:%Y-%m-%d %H:%M} {shown_at.tzname() or tz}",
                    x=0.06, ha="left", fontsize=12, fontweight="bold")
    figure.text(0.06, 0.9, f"{words.get(row['outcome'], row['outcome'])} ±{n} bars "
                "(blue: your bar, light: tolerance, triangles: ITA's signals)", fontsize=9,
                color="#455a64")
    out = io.BytesIO()
    figure.savefig(out, format="png", pil_kwargs={"compress_level": 1})
    return out.getvalue()


def write_pictures(check: LabelCheck, folder: Path, *, tz="UTC") -> list[Path]:
    """One PNG per disagreement in `folder` (``<label_id>-<outcome>.png``); the paths."""
    folder = Path(folder)
    written = []
    for _, row in check.disagreements.iterrows():
        path = folder / f"{row['label_id']}-{row['outcome']}.png"
        from engine._io import write_bytes_atomic

        write_bytes_atomic(path, disagreement_png(check, row["label_id"], tz=tz))
        written.append(path)
    return written
