#!/usr/bin/env bash
# Entrypoint of the local PostgreSQL image. On the first start with an empty PGDATA it creates
# the cluster with POSTGRES_USER as superuser (password POSTGRES_PASSWORD, scram-sha-256 over
# TCP) and the database POSTGRES_DB, like the official image; then it runs the server in the
# foreground as PID 1 so SIGINT from the runtime stops it cleanly.
set -euo pipefail

readonly POSTGRES_UID=999

start_as_postgres_user() {
  # Started as root (no runAsUser in the pod): own the data directory, then step down.
  if [[ "$(id -u)" == 0 ]]; then
    mkdir -p "$PGDATA"
    chown -R "$POSTGRES_UID:$POSTGRES_UID" "$PGDATA"
    chmod 700 "$PGDATA"
    exec setpriv --reuid="$POSTGRES_UID" --regid="$POSTGRES_UID" --init-groups "$0" "$@"
  fi
}

initialise_cluster() {
  local user=${POSTGRES_USER:-postgres}
  local database=${POSTGRES_DB:-$user}
  if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
    echo "POSTGRES_PASSWORD is not set: refusing to create a database without a password" >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  # The password through a pipe, never a file: the root filesystem may be read-only.
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options, as in the official image
  initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
  printf '%s\n' "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  # The socket where Debian's libpq and the official image look for it (this server's build
  # default is /tmp).
  printf '%s\n' "listen_addresses = '*'" "unix_socket_directories = '/var/run/postgresql'" \
    >>"$PGDATA/postgresql.conf"

  # Single-user mode: no connection is possible before the database exists.
  if [[ "$database" != postgres ]]; then
    printf 'CREATE DATABASE "%s";\n' "${database//\"/\"\"}" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "PostgreSQL initialised in $PGDATA: user $user, database $database"
}

main() {
  if [[ "${1:-}" == postgres || "${1:-}" == -* ]]; then
    [[ "${1:-}" == -* ]] && set -- postgres "$@"
    start_as_postgres_user "$@"
    if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
      initialise_cluster
    fi
  fi
  exec "$@"
}

main "$@"
