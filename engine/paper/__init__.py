"""Paper trading: accounts that follow signals with the backtester's fill rules, prop-firm risk
limits and a kill switch. ITA places no real orders unless the trader sets ``ITA_ALLOW_LIVE=1``.

- `engine.paper.ledger`  the append-only ledger of orders, fills, positions and balance (SQLite
  under ``.ita/``, stable ids: a restart or a ``kill -9`` never duplicates or loses a fill);
- `engine.paper.account` accounts (name, currency, balance, costs, rules) and what they follow;
- `engine.paper.follow`  drives the accounts bar by bar from closed bars, with the same fills as
  `engine.backtest.simulate`;
- `engine.paper.risk`    the prop-firm limits a signal must pass before it is taken;
- `engine.paper.kill`    the kill switch (app, ``ita kill``, Telegram ``/kill``, a file in
  ``exchange/``).
"""
