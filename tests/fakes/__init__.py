"""Local fakes of outside systems (Telegram Bot API), for real clients in tests."""
