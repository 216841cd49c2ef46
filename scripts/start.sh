#!/usr/bin/env bash
# Starts the engine daemon in the background and the Streamlit app in the foreground.
# Stopping the app (Ctrl-C) stops the daemon too.
# The app listens on 127.0.0.1. Another HOST needs ITA_ALLOW_REMOTE=1 and ITA_APP_PASSWORD
# (environment or .env); engine/access.py checks that before anything starts.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8501}"

.venv/bin/python -m engine.access "$HOST"

.venv/bin/ita engine &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true' EXIT INT TERM

echo "ITA is starting on http://$HOST:$PORT (engine daemon pid $daemon)"
.venv/bin/streamlit run streamlit_app.py \
  --server.address "$HOST" --server.port "$PORT" --server.headless true \
  --browser.gatherUsageStats false
