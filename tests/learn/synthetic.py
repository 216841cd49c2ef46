"""Synthetic datasets of the engine.learn contract's shape (importable test data).

``market(dependent=True)``: whether a signal reaches its target truly depends on one feature
(``edge``: P(target) = 1 / (1 + exp(-strength * edge))); the other features are noise.
``market(dependent=False)``: every signal reaches target with the same chance, whatever its
features.
A signal that reaches target earns +2 R, one that does not loses 1 R.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

try:  # the real class once s-dataset's module is merged
    from engine.learn.dataset import Dataset
except ImportError:  # pragma: no cover - the contract's shape until then
    @dataclass(frozen=True)
    class Dataset:  # type: ignore[no-redef]
        frame: pd.DataFrame
        features: tuple[str, ...]
        meta: dict


def market(n: int = 400, *, dependent: bool = True, features: int = 5, seed: int = 0,
           strength: float = 1.5, base_rate: float = 0.4, missing: float = 0.0,
           start: str = "2024-01-01") -> Dataset:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, features))
    if missing:
        holes = rng.random(size=values.shape) < missing
        holes[:, 0] = False
        values[holes] = np.nan
    names = ("edge", *(f"noise_{i}" for i in range(1, features)))
    logit = np.log(base_rate / (1 - base_rate))
    chance = 1 / (1 + np.exp(-(logit + strength * values[:, 0]))) if dependent \
        else np.full(n, base_rate)
    hit = (rng.random(n) < chance).astype(int)
    known_at = pd.date_range(start, periods=n, freq="2h", tz="UTC")
    held = pd.to_timedelta(rng.integers(15, 600, size=n), unit="min")
    frame = pd.DataFrame(values, columns=list(names))
    frame["known_at"] = known_at
    frame["outcome_at"] = known_at + held
    frame["hit_target"] = hit
    frame["r_multiple"] = np.where(hit == 1, 2.0, -1.0)
    frame["side"] = rng.choice([1, -1], size=n)
    frame["signal_id"] = [f"syn-{i:05d}" for i in range(n)]
    frame["symbol"] = "EURUSD"
    frame["setup_id"] = "synthetic"
    frame["setup_version"] = 1
    meta = {"setup_id": "synthetic", "setup_version": 1, "symbol": "EURUSD",
            "feature_set": "features_v1", "dependent": dependent, "seed": seed}
    return Dataset(frame=frame, features=tuple(names), meta=meta)


def reversed_market(n: int = 400, *, seed: int = 0, strength: float = 2.0) -> Dataset:
    """A market whose edge flips: in the older half a high ``edge`` leads to target, in the newer
    half a low one does (a regime change no amount of the same data fixes)."""
    older = market(n // 2, dependent=True, seed=seed, strength=strength)
    newer = market(n - n // 2, dependent=True, seed=seed + 1, strength=-strength,
                   start=(older.frame["known_at"].max() + pd.Timedelta(hours=2)).isoformat())
    frame = pd.concat([older.frame, newer.frame], ignore_index=True)
    frame["signal_id"] = [f"syn-{i:05d}" for i in range(len(frame))]
    assert frame["known_at"].is_monotonic_increasing  # the contract: sorted by known_at
    return Dataset(frame=frame, features=older.features, meta={**older.meta, "reversed": True})
