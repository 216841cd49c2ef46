#!/usr/bin/env bash
# Starts the engine daemon (and, when the `live` setting is on, the live monitor) in the
# background and the Streamlit app in the foreground. Stopping the app (Ctrl-C) stops them too.
# The app listens on 127.0.0.1. Another HOST needs ITA_ALLOW_REMOTE=1 and ITA_APP_PASSWORD
# (environment or .env); engine/access.py checks that before anything starts.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8501}"

.venv/bin/python -m engine.access "$HOST"

.venv/bin/ita engine &
daemon=$!
background=("$daemon")
trap 'kill "${background[@]}" 2>/dev/null || true' EXIT INT TERM

# The live monitor (alerts on every candle close) when the `live` setting is on (ITA_LIVE=1
# in the environment or .env); its output goes to <home>/exchange/logs/live.log.
live_log="$(.venv/bin/python -c 'from engine.settings import get_settings
s = get_settings()
print(s.exchange_dir / "logs" / "live.log" if s.live else "")')"
if [ -n "$live_log" ]; then
  mkdir -p "$(dirname "$live_log")"
  .venv/bin/ita live >>"$live_log" 2>&1 &
  background+=("$!")
  echo "live monitor started (pid $!, log $live_log)"
fi

echo "ITA is starting on http://$HOST:$PORT (engine daemon pid $daemon)"
.venv/bin/ita-app \
  --server.address "$HOST" --server.port "$PORT" --server.headless true \
  --browser.gatherUsageStats false
