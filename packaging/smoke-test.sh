#!/usr/bin/env bash
# Smoke test of a built bundle, with the bundled executables only:
#
#   bash packaging/smoke-test.sh dist/quicksilver
#
# 1. quicksilver-server init / user add / module set  -> a data folder, SMTP on a
#    free 127.0.0.1 port, every other module off
# 2. quicksilver (the window, QT_QPA_PLATFORM=offscreen): wait for the SMTP port,
#    send one message, SIGTERM -> must exit 0 within 30 s, message in the Maildir
# 3. quicksilver-server run: the same with the headless core
# Needs python3 (standard library only) for the SMTP client. Exits non-zero with
# a message saying which step failed.
set -euo pipefail

DIST="${1:?usage: smoke-test.sh DIST_DIR (e.g. dist/quicksilver)}"
DIST="$(cd "$DIST" && pwd)"
GUI="$DIST/quicksilver"
SRV="$DIST/quicksilver-server"
START_TIMEOUT=60  # first start of a fresh bundle includes a TLS key generation
STOP_TIMEOUT=30
DOMAIN=example.test
USER_ADDR="alice@$DOMAIN"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/qs-smoke.XXXXXX")"
DATA="$WORK/data"
PID=""
cleanup() {
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "SMOKE TEST FAILED: $*" >&2
  for f in "$WORK"/*.log; do
    [[ -f "$f" ]] || continue
    echo "---- $(basename "$f") (last 60 lines) ----" >&2
    tail -n 60 "$f" >&2
  done
  exit 1
}

for exe in "$GUI" "$SRV"; do
  [[ -x "$exe" ]] || fail "$exe is missing or not executable"
done

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

manage() {
  timeout 60 "$SRV" --data-dir "$DATA" "$@" >>"$WORK/manage.log" 2>&1 \
    || fail "quicksilver-server $* (exit $?)"
}
echo "== data folder $DATA, SMTP on 127.0.0.1:$PORT"
manage init --domain "$DOMAIN"
echo 's3cret-Passw0rd' | manage user add "$USER_ADDR" --password-stdin
manage module set smtp --bind 127.0.0.1 --port "$PORT"
manage module enable smtp
for m in submission pop3 imap relay mx; do manage module disable "$m"; done

# wait_and_send NAME MARKER: wait for the port (while $PID lives), send a message.
wait_and_send() {
  python3 - "$PORT" "$PID" "$START_TIMEOUT" "$2" "$USER_ADDR" <<'EOF' \
    || fail "$1: SMTP port $PORT did not accept mail within ${START_TIMEOUT}s"
import os, smtplib, socket, sys, time
from email.message import EmailMessage

port, pid, within, marker, rcpt = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
deadline = time.monotonic() + within
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the process exited before listening")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("timeout")
        time.sleep(0.2)
msg = EmailMessage()
msg["From"] = "bob@sender.test"
msg["To"] = rcpt
msg["Subject"] = f"smoke test {marker}"
msg.set_content("hello from the smoke test\n")
with smtplib.SMTP("127.0.0.1", port, timeout=15) as smtp:
    smtp.send_message(msg)
print(f"sent {marker}")
EOF
}

# stop_and_check NAME MARKER LOG: SIGTERM, exit 0 within STOP_TIMEOUT, mail present.
stop_and_check() {
  kill -TERM "$PID"
  local waited=0
  while kill -0 "$PID" 2>/dev/null; do
    # A zombie (exited, not yet reaped) counts as gone.
    [[ "$(ps -o stat= -p "$PID" 2>/dev/null)" == Z* ]] && break
    if ((waited >= STOP_TIMEOUT * 10)); then
      kill -KILL "$PID" 2>/dev/null || true
      fail "$1 did not exit within ${STOP_TIMEOUT}s of SIGTERM"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  local rc=0
  wait "$PID" || rc=$?
  PID=""
  ((rc == 0)) || fail "$1 exited with $rc after SIGTERM (want 0)"
  grep -rqs -- "$2" "$DATA/mail/$DOMAIN/alice/new/" \
    || fail "$1: message $2 not in $DATA/mail/$DOMAIN/alice/new/"
  grep -q -- "$4" "$3" || fail "$1: no '$4' in its output (unclean stop?)"
  echo "ok: $1 accepted $2, stopped on SIGTERM with exit 0"
}

echo "== quicksilver (window, offscreen)"
QT_QPA_PLATFORM=offscreen "$GUI" --data-dir "$DATA" >"$WORK/gui.log" 2>&1 &
PID=$!
M1="gui-$RANDOM$RANDOM"
wait_and_send quicksilver "$M1"
stop_and_check quicksilver "$M1" "$WORK/gui.log" "core stopped"

echo "== quicksilver-server run (headless)"
"$SRV" --data-dir "$DATA" run >"$WORK/server.log" 2>&1 &
PID=$!
M2="srv-$RANDOM$RANDOM"
wait_and_send quicksilver-server "$M2"
stop_and_check quicksilver-server "$M2" "$WORK/server.log" "^stopped"

echo "SMOKE TEST PASSED ($DIST)"
