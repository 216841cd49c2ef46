"""Small real objects for the registry and explanation tests: a `TrainedModel` from a tiny
XGBoost fit, an `Evaluation` with chosen numbers and a signals frame shaped like a `Dataset`'s."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.isotonic import IsotonicRegression

from engine.learn.model import Calibrator, Evaluation, TrainedModel

FEATURES = ("gap_atr", "sweep_depth_atr", "minutes_into_session")


def synthetic_frame(n: int = 300, *, seed: int = 0) -> pd.DataFrame:
    """Signals whose target depends on `gap_atr` (bigger gap, more often reached)."""
    rng = np.random.default_rng(seed)
    gap = rng.gamma(2.0, 0.6, n)
    depth = rng.normal(0.5, 0.2, n)
    minutes = rng.integers(0, 240, n).astype("float64")
    hit = (rng.random(n) < 1 / (1 + np.exp(-(gap - 1.2) * 2.5))).astype("int64")
    known = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    return pd.DataFrame({
        "gap_atr": gap, "sweep_depth_atr": depth, "minutes_into_session": minutes,
        "known_at": known, "outcome_at": known + pd.Timedelta(minutes=30),
        "hit_target": hit, "r_multiple": np.where(hit == 1, 2.0, -1.0),
        "side": np.where(np.arange(n) % 2 == 0, 1, -1),
        "signal_id": [f"s{i:05d}" for i in range(n)], "symbol": "BTC/USDT",
        "setup_id": "london-fvg", "setup_version": 3,
    })


def tiny_model(frame: pd.DataFrame | None = None, *, trees: int = 12, seed: int = 0,
               calibrated: bool = True):
    frame = synthetic_frame() if frame is None else frame
    X = frame[list(FEATURES)].to_numpy("float64")
    y = frame["hit_target"].to_numpy()
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "seed": seed,
              "nthread": 1}
    # like engine/learn/model.py: the booster knows its inputs by position, not by name
    booster = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=trees)
    raw_bytes = bytes(booster.save_raw("ubj"))
    calibrator = None
    if calibrated:
        curve = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        curve.fit(booster.predict(xgb.DMatrix(X)), y)
        calibrator = Calibrator("isotonic",
                                x=tuple(map(float, curve.X_thresholds_)),
                                y=tuple(map(float, curve.y_thresholds_)))
    return TrainedModel(features=FEATURES, booster_bytes=raw_bytes,
                        calibrator=calibrator, params={**params, "trees": trees})


def evaluation(*, auc: float = 0.62, low: float = 0.55, expected_r: float = 0.30,
               n: int = 300, folds: int = 5):
    ids = [f"s{i:05d}" for i in range(n)]
    oof = pd.DataFrame({"signal_id": ids, "probability": np.linspace(0.1, 0.9, n),
                        "fold": np.arange(n) * folds // n})
    thresholds = pd.DataFrame({"threshold": [0.3, 0.4, 0.5, 0.6],
                               "trades": [200, 120, 60, 10],
                               "expected_r": [0.05, expected_r, expected_r - 0.1, 0.9]})
    thresholds["total_r"] = thresholds["trades"] * thresholds["expected_r"]
    calibration = pd.DataFrame({"bin": [0, 1], "mean_predicted": [0.3, 0.7],
                                "observed": [0.28, 0.71], "count": [150, 150]})
    verdict = f"AUC {auc:.2f} [{low:.2f}, {auc + 0.06:.2f}] on {n} signals"
    return Evaluation(n=n, positives=n // 3, folds=folds, auc=auc, auc_low=low,
                      auc_high=auc + 0.06, brier=0.21, log_loss=0.61,
                      baselines={"constant": {"auc": 0.5, "brier": 0.22, "log_loss": 0.64},
                                 "logistic": {"auc": 0.55, "brier": 0.215,
                                              "log_loss": 0.63}},
                      calibration=calibration, thresholds=thresholds,
                      better_than_chance=low > 0.5, verdict=verdict, oof=oof)


DATASET_META = {"setup_id": "london-fvg", "setup_version": 3, "rule_hash": "abc123",
                "symbol": "BTC/USDT", "timeframe": "1m", "start": "2024-01-01T00:00:00+00:00",
                "end": "2024-01-13T11:00:00+00:00", "data_hash": "d41d8cd9",
                "feature_set": "features_v1"}
