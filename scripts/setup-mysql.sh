#!/usr/bin/env bash
# Creates the OBD2-Server databases and service user on a MariaDB or MySQL 8
# server, then runs the migrations. Idempotent: run it again to reset the password.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: OBD2_DB_PASSWORD=<password> scripts/setup-mysql.sh

Creates the databases obd2 and obd2_test and the user obd2, with ALL privileges
on those two databases and nothing else, then migrates obd2 and prints the
DATABASE_URL line for .env. Safe to run again (it resets the password).

Environment:
  OBD2_DB_PASSWORD     the service user's password (required; never printed)
  OBD2_DB_USER         service user (default obd2)
  OBD2_DB_HOST         host part of the account, where the server connects from (default localhost)
  OBD2_DB_NAME         main database (default obd2)
  OBD2_TEST_DB_NAME    test database (default obd2_test)
  MYSQL_ADMIN_USER     admin account (default root, over the local socket)
  MYSQL_ADMIN_PASSWORD admin password (default none: socket authentication)
  MYSQL_HOST           server host for the admin connection and DATABASE_URL (default: local socket; URL 127.0.0.1)
  MYSQL_PORT           server port (default: the server's own)
EOF
}

fail() {
  echo "Error: $1" >&2
  echo "Try: scripts/setup-mysql.sh --help" >&2
  exit 2
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) fail "unknown argument: $1" ;;
esac

password="${OBD2_DB_PASSWORD:-}"
user="${OBD2_DB_USER:-obd2}"
account_host="${OBD2_DB_HOST:-localhost}"
db="${OBD2_DB_NAME:-obd2}"
test_db="${OBD2_TEST_DB_NAME:-obd2_test}"

[ -n "$password" ] || fail "OBD2_DB_PASSWORD is required (the service user's password), e.g. OBD2_DB_PASSWORD=\$(openssl rand -hex 24)"
# Names go into SQL unquoted by the client, so only plain identifiers are accepted.
for pair in "OBD2_DB_USER=$user" "OBD2_DB_NAME=$db" "OBD2_TEST_DB_NAME=$test_db"; do
  [[ "${pair#*=}" =~ ^[A-Za-z0-9_]{1,64}$ ]] || fail "${pair%%=*} must be letters, digits and _ (got '${pair#*=}')"
done
[[ "$account_host" =~ ^[A-Za-z0-9._%:-]+$ ]] || fail "OBD2_DB_HOST must be a host name, an IP address or % (got '$account_host')"

client="$(command -v mariadb || command -v mysql || true)"
[ -n "$client" ] || fail "neither the mariadb nor the mysql client is installed (apt-get install -y mariadb-client)"

# The admin credentials go in an option file only this user can read, never on a command line.
umask 077
options="$(mktemp)"
trap 'rm -f "$options"' EXIT
{
  echo "[client]"
  echo "user=${MYSQL_ADMIN_USER:-root}"
  if [ -n "${MYSQL_ADMIN_PASSWORD:-}" ]; then
    escaped="${MYSQL_ADMIN_PASSWORD//\\/\\\\}"
    echo "password=\"${escaped}\""
  fi
  if [ -n "${MYSQL_HOST:-}" ]; then
    echo "host=$MYSQL_HOST"
    echo "protocol=tcp"
  fi
  if [ -n "${MYSQL_PORT:-}" ]; then echo "port=$MYSQL_PORT"; fi
} >"$options"

admin() { "$client" --defaults-extra-file="$options" --batch --skip-column-names "$@"; }

# A literal for SQL: backslashes doubled (the session below turns NO_BACKSLASH_ESCAPES off) and quotes doubled.
sql_password="${password//\\/\\\\}"
sql_password="${sql_password//\'/\'\'}"
# In GRANT, _ in a database name is a wildcard; escaped, the grant covers that database only.
grant_db="${db//_/\\_}"
grant_test_db="${test_db//_/\\_}"
account="'$user'@'$account_host'"

# The SQL goes in on stdin, so the password never shows in ps.
admin <<SQL
SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '');
CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS \`$test_db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS $account IDENTIFIED BY '$sql_password';
ALTER USER $account IDENTIFIED BY '$sql_password';
GRANT ALL PRIVILEGES ON \`$grant_db\`.* TO $account;
GRANT ALL PRIVILEGES ON \`$grant_test_db\`.* TO $account;
SQL
echo "Databases $db and $test_db and user $account are ready."

port="${MYSQL_PORT:-$(admin -e 'SELECT @@port')}"
url_host="${MYSQL_HOST:-127.0.0.1}"

urlencode() {
  local LC_ALL=C s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [A-Za-z0-9._~-]) out+="$c" ;;
      *) out+="$(printf '%%%02X' "'$c")" ;;
    esac
  done
  printf '%s' "$out"
}

cd "$(dirname "$0")/.."
bun="$(command -v node_modules/.bin/bun || command -v bun || true)"
if [ -n "$bun" ]; then migrate=("$bun" scripts/migrate.ts); else migrate=(node --import tsx scripts/migrate.ts); fi
DATABASE_URL="mysql://$user:$(urlencode "$password")@$url_host:$port/$db" "${migrate[@]}"

echo
echo "Put this in .env, with **** replaced by the password (URL-encoded if it has characters other than A-Z a-z 0-9 . _ ~ -):"
echo "DATABASE_URL=mysql://$user:****@$url_host:$port/$db"
