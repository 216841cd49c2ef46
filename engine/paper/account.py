"""Paper accounts: what an account is and where it is kept.

An account is a YAML file ``<home>/.ita/paper/accounts/<name>.yaml`` (local state: it never
syncs to the shared folder), written atomically. Its money lives in the ledger
(`engine.paper.ledger`), never here: this file holds only the settings.

| field            | meaning                                                              |
| ---------------- | -------------------------------------------------------------------- |
| name             | the account's name (a safe file name: `engine.ids.checked_id`)        |
| currency         | the account's currency, e.g. "USD"                                   |
| starting_balance | the balance the ledger starts from                                   |
| costs            | fee and slippage (the setup `Costs` type); None: each setup's own     |
| risk_percent     | risk per trade, % of the balance; None: each setup's own `risk`      |
| follow           | setup ids followed automatically                                     |
| mode             | "auto": every signal of the followed setups; "taken": only the alerts |
|                  | the trader marked Taken in the live journal                          |
| execution        | "paper" (default): simulated only; "live": also sent to the exchange |
|                  | by `engine.paper.execute` (needs ITA_ALLOW_LIVE=1 and exchange keys; |
|                  | docs/EXECUTION.md)                                                   |
| risk             | the prop-firm rules (`engine.paper.risk.RiskRules`): a signal that   |
|                  | would break one is refused, its reason kept in the ledger            |
"""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine._io import write_text_atomic
from engine.errors import ConfigurationError, DataError
from engine.ids import checked_id
from engine.paper.risk import RiskRules
from engine.setups.schema import Costs

ACCOUNTS_DIR = Path(".ita") / "paper" / "accounts"


class Account(BaseModel):
    """One paper account's settings (its money is in the ledger)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(1, description="Version of this file's layout")
    name: str = Field(description="The account's name: letters, digits, '-', '_', '.'")
    currency: str = Field("USD", min_length=1, max_length=12, description="Account currency")
    starting_balance: float = Field(10_000.0, gt=0, description="Balance the ledger starts from")
    costs: Costs | None = Field(None, description="Fee and slippage; None: each setup's own")
    risk_percent: float | None = Field(None, gt=0, le=100,
                                       description="Risk per trade, % of the balance; "
                                                   "None: each setup's own")
    follow: list[str] = Field(default_factory=list, description="Setup ids followed")
    mode: Literal["auto", "taken"] = Field(
        "auto", description="auto: every signal of the followed setups; taken: only alerts "
                            "marked Taken in the live journal")
    execution: Literal["paper", "live"] = Field(
        "paper", description="paper: simulated only; live: the same orders also go to the "
                             "exchange (ITA_ALLOW_LIVE=1 and exchange keys; docs/EXECUTION.md)")
    risk: RiskRules = Field(default_factory=RiskRules,
                            description="Prop-firm risk rules (engine.paper.risk)")
    created_at: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(),
                            description="When the account was created (ISO UTC)")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return checked_id(value, what="account name", error=ConfigurationError)

    @field_validator("follow")
    @classmethod
    def _safe_setups(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(checked_id(v, what="setup id", error=ConfigurationError)
                                  for v in value))


def accounts_dir(home: str | Path) -> Path:
    return Path(home) / ACCOUNTS_DIR


class AccountStore:
    """The paper accounts of an ITA home.

    >>> store = AccountStore(home)  # doctest: +SKIP
    >>> store.create(Account(name="prop-1", starting_balance=50_000))  # doctest: +SKIP
    """

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home)
        self.root = accounts_dir(home)

    def _path(self, name: str) -> Path:
        return self.root / f"{checked_id(name, what='account name', error=DataError)}.yaml"

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.yaml")) if self.root.is_dir() else []

    def create(self, account: Account) -> Account:
        """Save a new account; a `ConfigurationError` when the name is taken."""
        if self._path(account.name).exists():
            raise ConfigurationError(f"paper account {account.name!r} exists already")
        self.save(account)
        return account

    def save(self, account: Account) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(account.model_dump(mode="json"), sort_keys=False)
        write_text_atomic(self._path(account.name), text)

    def load(self, name: str) -> Account:
        path = self._path(name)
        if not path.exists():
            near = difflib.get_close_matches(name, self.names(), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else "; see `ita paper list`"
            raise DataError(f"no paper account {name!r}{hint}")
        try:
            return Account.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except ValidationError as error:
            detail = error.errors()[0]
            field = ".".join(str(p) for p in detail["loc"]) or "(file)"
            raise ConfigurationError(f"{path}: {field}: {detail['msg']}") from None
        except yaml.YAMLError as error:
            raise ConfigurationError(f"{path}: not valid YAML ({error})") from None

    def follow(self, name: str, setup_id: str) -> Account:
        account = self.load(name)
        updated = account.model_copy(update={"follow": [*account.follow, setup_id]})
        updated = Account.model_validate(updated.model_dump())
        self.save(updated)
        return updated
