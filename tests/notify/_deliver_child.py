"""A delivery process for the crash tests: `python -m tests.notify._deliver_child JOURNAL URL`
delivers what JOURNAL holds through the fake Bot API at URL (ITA_CRASH_POINT may kill it)."""

from __future__ import annotations

import sys

from engine.live.journal import SignalJournal
from engine.notify.delivery import deliver_pending
from engine.notify.telegram import ChatPacer, TelegramChannel
from tests.notify._alerts import render

if __name__ == "__main__":
    journal_file, base_url = sys.argv[1:3]
    with SignalJournal(journal_file) as journal, TelegramChannel(
            "123:abc", [4242], base_url=base_url, timeout=5, pacer=ChatPacer(0.05)) as channel:
        report = deliver_pending(journal, channel, render)
    print(report.sent)
