#!/usr/bin/env bash
# Installs the Debian packages ITA relies on, only those that are missing.
#   chromium + chromium-driver : headless browser for the end-to-end test
#   rclone                      : syncing the shared knowledge folder
#   tesseract-ocr (+ rus)       : reading text out of theory screenshots
set -euo pipefail

need=()
command -v chromium  >/dev/null 2>&1 || need+=(chromium chromium-driver)
command -v rclone    >/dev/null 2>&1 || need+=(rclone)
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr tesseract-ocr-rus)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need+=(fonts-dejavu-core)

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ITA needs these Debian packages: ${need[*]}" >&2
  echo "Run as root, or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
