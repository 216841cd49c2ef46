"""Notifications: alerts leave ITA through a channel, exactly once as far as the channel allows.

| module | role |
| --- | --- |
| `delivery.py` | `Channel`, `deliver_pending(journal, channel, render)` (the outbox loop) |
| `telegram.py` | `TelegramChannel` (python-telegram-bot): photo, caption, decision buttons |
| `commands.py` | `TelegramUpdates` (buttons, replies, commands), `LiveStatus`, `answer_command` |

Rules every channel keeps: secrets come from the environment only and never reach a log; a
temporary failure (`engine.errors.TemporaryError`) leaves the alert queued and stops the batch,
so alerts arrive in the order of their bars; a refusal of one alert (`AlertRejected`) marks
that alert `failed` and moves on; a configuration problem (`ConfigurationError`: bad token,
bot blocked) leaves everything queued for when it is fixed. The exactly-once rule and its one
ambiguous case are in `engine/live/journal.py`.
"""
