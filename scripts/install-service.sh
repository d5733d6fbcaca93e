#!/usr/bin/env bash
# Installs and starts the obd2-server systemd unit for this checkout. Idempotent.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: sudo scripts/install-service.sh [--dir INSTALL_DIR] [--root DIR]

Installs systemd/obd2-server.service for INSTALL_DIR (default: this checkout),
creates the obd2 system user if missing, gives it INSTALL_DIR/data (and
BACKUP_DIR), then systemctl daemon-reload, enable and restart, and checks that
the service is active. Running it again replaces the unit and restarts.

INSTALL_DIR/.env must exist and set API_KEY (see .env.example).

  --dir INSTALL_DIR  the install directory (default: the directory above scripts/)
  --root DIR         dry run: write the files under DIR (DIR/etc/systemd/system/...)
                     and print the commands instead of running them
  -h, --help         this text
EOF
}

fail() {
  echo "Error: $1" >&2
  echo "Try: $2" >&2
  exit 2
}

here="$(cd "$(dirname "$0")/.." && pwd)"
dir="$here"
root=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --dir) [ $# -ge 2 ] || fail "--dir needs a directory" "scripts/install-service.sh --help"; dir="$2"; shift 2 ;;
    --root) [ $# -ge 2 ] || fail "--root needs a directory" "scripts/install-service.sh --help"; root="$2"; shift 2 ;;
    *) fail "unknown argument: $1" "scripts/install-service.sh --help" ;;
  esac
done
[ -d "$dir" ] || fail "install directory not found: $dir" "pass --dir with the directory holding the checkout"
dir="$(cd "$dir" && pwd)"

# The last assignment of a variable in .env, unquoted (what lib/dotenv.ts reads).
env_value() {
  sed -nE "s/^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=[[:space:]]*(.*)\$/\\2/p" "$dir/.env" |
    tail -n 1 | sed -E "s/[[:space:]]+\$//; s/^\"(.*)\"\$/\\1/; s/^'(.*)'\$/\\1/"
}

[ -f "$dir/.env" ] || fail "$dir/.env is missing; the service reads its configuration from it" "cp .env.example .env, then set API_KEY (16+ characters, e.g. openssl rand -hex 24)"
[ -n "$(env_value API_KEY)" ] || fail "API_KEY is not set in $dir/.env" "set API_KEY=<16+ characters> in $dir/.env (e.g. openssl rand -hex 24)"
[ -x "$dir/node_modules/.bin/bun" ] || fail "$dir/node_modules/.bin/bun is missing" "cd $dir && npm ci"

data="$dir/data"
backups="$(env_value BACKUP_DIR)"
backups="${backups:-./data/backups}"
case "$backups" in /*) ;; *) backups="$dir/${backups#./}" ;; esac
writable="$data"
case "$backups/" in "$data"/*) ;; *) writable="$data $backups" ;; esac

# Every command that changes the system goes through run: printed in a dry run.
run() {
  if [ -n "$root" ]; then echo "would run: $*"; else "$@"; fi
}

unit="$root/etc/systemd/system/obd2-server.service"
mkdir -p "$(dirname "$unit")" "$root$data" "$root$backups"
sed -e "/^#/!s#/opt/obd2-server#$dir#g" -e "s#^ReadWritePaths=.*#ReadWritePaths=$writable#" "$here/systemd/obd2-server.service" >"$unit.tmp"
chmod 644 "$unit.tmp"
mv "$unit.tmp" "$unit"
echo "Installed $unit"

if ! getent passwd obd2 >/dev/null; then
  run useradd --system --user-group --home-dir "$dir" --no-create-home --shell /usr/sbin/nologin obd2
fi
run chown -R obd2:obd2 "$data" "$backups"
# The server reads .env itself too; only root and obd2 may see the key.
run chown root:obd2 "$dir/.env"
run chmod 640 "$dir/.env"
run systemctl daemon-reload
run systemctl enable obd2-server
# restart rather than start, so a re-run also applies a changed unit or .env.
run systemctl restart obd2-server
if [ -n "$root" ]; then exit 0; fi

# Type=simple counts as started at once; a configuration error shows within a few seconds.
for _ in 1 2 3 4 5; do
  sleep 1
  if ! systemctl is-active --quiet obd2-server; then
    echo "Error: obd2-server is not running" >&2
    echo "Try: systemctl status obd2-server; journalctl -u obd2-server -n 50 --no-pager" >&2
    exit 1
  fi
done
port="$(env_value PORT)"
echo "obd2-server is active. Check: curl http://localhost:${port:-8000}/api/v1/health"
