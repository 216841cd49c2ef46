"""Paper accounts: stored under the home's .ita/ (never the shared folder), validated with
messages that name the file and field, followed in "taken" mode only on Taken alerts."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from engine.errors import ConfigurationError, DataError
from engine.live.journal import SignalJournal, journal_path
from engine.paper.account import Account, AccountStore, accounts_dir
from engine.paper.follow import taken_only
from engine.setups.schema import Costs
from engine.signals import conform_signals
from tests.live._signals import make_signal


def test_an_account_round_trips_under_the_local_state_folder(tmp_path) -> None:
    store = AccountStore(tmp_path)
    made = store.create(Account(name="prop-1", starting_balance=50_000, currency="EUR",
                                costs=Costs(fee_bps=2, slippage_bps=1), follow=["a", "b", "a"]))
    assert made.follow == ["a", "b"]  # each setup once
    assert (accounts_dir(tmp_path) / "prop-1.yaml").exists()
    assert str(accounts_dir(tmp_path)).startswith(str(tmp_path / ".ita"))
    assert store.load("prop-1") == made
    assert store.follow("prop-1", "c").follow == ["a", "b", "c"]
    assert store.names() == ["prop-1"]
    assert not list(accounts_dir(tmp_path).glob(".*"))  # no temporary left behind


def test_bad_settings_name_the_file_and_field(tmp_path) -> None:
    store = AccountStore(tmp_path)
    store.create(Account(name="prop-1"))
    path = accounts_dir(tmp_path) / "prop-1.yaml"
    path.write_text(path.read_text() + "leverage: 100\n")
    with pytest.raises(ConfigurationError, match=r"prop-1\.yaml: leverage: Extra inputs"):
        store.load("prop-1")
    with pytest.raises(ValueError, match="starting_balance"):  # pydantic's, one per field
        Account.model_validate({"name": "x", "starting_balance": -5})
    with pytest.raises(DataError, match="did you mean 'prop-1'"):
        store.load("prop-2")
    with pytest.raises(ConfigurationError, match="exists already"):
        store.create(Account(name="prop-1"))


def test_taken_mode_follows_only_the_alerts_marked_taken(tmp_path) -> None:
    first, second = make_signal(0, symbol="BTC/USDT"), make_signal(15, symbol="BTC/USDT")
    with SignalJournal(journal_path(tmp_path)) as journal:
        journal.record(first)
        journal.record(second)
        journal.set_decision(second.signal_id, "Taken")
        journal.set_decision(first.signal_id, "Skipped")
    frame = conform_signals(pd.DataFrame([
        {k: v for k, v in dataclasses.asdict(s).items() if k not in ("timeframe", "source")}
        for s in (first, second)]))
    kept = taken_only(frame, journal_path(tmp_path))
    assert list(kept["known_at"]) == [second.known_at]
    assert taken_only(frame, tmp_path / "none.sqlite").empty  # no journal: nothing taken
