"""Learning (issue 13): which signals of a setup work.

The package contract (each module owns one step; the app, the CLI and the daemon call these):

- `engine.learn.dataset` — `Dataset(frame, features, meta)`: one row per signal with a known
  outcome, sorted by ``known_at``; feature columns (float64, NaN allowed; feature set
  ``features_v1``, `engine.learn.features`) computed only from bars up to ``known_at``, then
  ``known_at``, ``outcome_at`` (exit bar), ``hit_target`` (0/1), ``r_multiple`` (net R of the
  signal taken alone), ``side`` (+1/-1), ``signal_id`` (the journal's entry id of the
  signal), ``symbol``, ``setup_id``, ``setup_version``, ``journal_tags``, ``journal_mistakes``
  (the analyst's own labels from the journal), ``trader_label`` (1 / 0 / NaN: the analyst's
  "setup here" / "not a setup" label within the labels check's tolerance); none are features.
  `build_dataset(settings, ref, symbol=..., start=..., end=...)`,
  `make_dataset(setup, candles, ...)` (pure), `pool_datasets([...])` (several setups as one,
  ``setup_<id>`` 0/1 features), `save_dataset` / `load_dataset` (Parquet, meta in the schema
  metadata); ``dataset.X`` / ``dataset.y`` are the feature frame and ``hit_target``. Labels
  come from `engine.backtest.alone.simulate_alone` (each signal taken on its own).
- `engine.learn.splits`, `.model`, `.metrics` — walk-forward purged/embargoed splits,
  `evaluate` (AUC with a bootstrap interval, Brier, log loss, calibration, thresholds, baselines,
  a plain verdict), `train` (XGBoost, calibrated, deterministic bytes).
- `engine.learn.registry`, `.explain` — models versioned in the shared knowledge folder
  (``analysts/<me>/models/<setup>/vNNNN/<model-id>/``: booster bytes, calibrator numbers,
  features, a card; no pickle; the id is a hash of what was trained, so the same inputs give the
  same id), champion / challenger on the same splits, explanations in words and similar past
  cases.
- `engine.learn.ops` — the one learning operation (`learn`, `learn_all`) for the CLI, the
  daemon's ``learn`` job and the Learning page. A setup version with too few signals for a
  walk-forward test of its own gets the **pooled model** (`learn_pool`): one model on the
  signals of every active setup version (``setup_<id>`` 0/1 features, each setup's own feature
  columns NaN elsewhere), evaluated walk-forward on the pooled signals with the same purged
  splits, trained once and registered for each small member (its card's ``dataset["pool"]``:
  members and their signal counts; its verdict names the pool and the setup's own count). A
  version with its own champion keeps it. Similar cases of a pooled model come from the
  setup's own signals, from the whole pool when it has fewer than k earlier ones (said so).
- `engine.learn.labels` — the trader's labels ("setup here" / "not a setup", with a note and
  a screenshot) in ``analysts/<me>/labels/``, and `check_labels`: the detector's precision and
  recall against them within a tolerance of N bars, every disagreement listed and drawn.

Honesty rules every module keeps: a feature uses only bars up to the signal's ``known_at``
(cut-and-compare tests); no training row's outcome window overlaps its test block (purging,
embargo); "better than chance" only when the AUC interval's lower end is above 0.5.
"""
