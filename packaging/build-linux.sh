#!/usr/bin/env bash
# Build the Linux one-folder bundle dist/quicksilver/ with PyInstaller.
#
#   bash packaging/build-linux.sh                 # fresh throwaway venv in build/pkg-venv
#   bash packaging/build-linux.sh --python PY     # use this (venv's) interpreter instead;
#                                                 # installs PyInstaller into it if missing
#
# Environment: PYTHON (interpreter that creates the throwaway venv, default python3),
# QS_PYINSTALLER (pip requirement, default "pyinstaller>=6.10,<7").
# Result: dist/quicksilver/{quicksilver,quicksilver-server,_internal/,share/}.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

ID=io.github.quicksilver.Quicksilver
PYINSTALLER_REQ="${QS_PYINSTALLER:-pyinstaller>=6.10,<7}"
DIST="$ROOT/dist"
WORK="$ROOT/build/pyinstaller"
BUNDLE="$DIST/quicksilver"
PY=""

while (($#)); do
  case "$1" in
    --python) PY="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "build-linux.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(($(date +%s) - start))"; }

if [[ -z "$PY" ]]; then
  step "throwaway venv build/pkg-venv"
  rm -rf "$ROOT/build/pkg-venv"
  "${PYTHON:-python3}" -m venv "$ROOT/build/pkg-venv"
  PY="$ROOT/build/pkg-venv/bin/python"
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q "$PYINSTALLER_REQ" "$ROOT"
else
  step "using $PY"
  "$PY" -c 'import PyInstaller' 2>/dev/null || "$PY" -m pip install -q "$PYINSTALLER_REQ"
  "$PY" -c 'import app, server, PySide6, qasync, aiosmtpd' 2>/dev/null \
    || "$PY" -m pip install -q "$ROOT"
fi
"$PY" -m PyInstaller --version

step "PyInstaller"
rm -rf "$BUNDLE"
# Run from an empty folder so the checkout is found only through the spec's
# pathex, never through the current directory.
mkdir -p "$WORK"
(cd "$WORK" && "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$WORK" "$ROOT/packaging/quicksilver.spec")

step "desktop integration files"
SHARE="$BUNDLE/share"
install -Dm644 packaging/quicksilver.desktop "$SHARE/applications/$ID.desktop"
install -Dm644 resources/icons/quicksilver.svg \
  "$SHARE/icons/hicolor/scalable/apps/quicksilver.svg"
install -Dm644 "packaging/$ID.metainfo.xml" "$SHARE/metainfo/$ID.metainfo.xml"
mkdir -p "$SHARE/icons/hicolor/256x256/apps"
# 256x256 PNG rendered from the SVG with Qt's own SVG renderer (PySide6-Essentials).
QT_QPA_PLATFORM=offscreen "$PY" - resources/icons/quicksilver.svg \
  "$SHARE/icons/hicolor/256x256/apps/quicksilver.png" <<'EOF'
import sys
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

app = QGuiApplication(sys.argv[:1])
renderer = QSvgRenderer(sys.argv[1])
if not renderer.isValid():
    sys.exit(f"cannot read {sys.argv[1]}")
image = QImage(256, 256, QImage.Format.Format_ARGB32_Premultiplied)
image.fill(Qt.GlobalColor.transparent)
painter = QPainter(image)
painter.setRenderHint(QPainter.RenderHint.Antialiasing)
renderer.render(painter)
painter.end()
if not image.save(sys.argv[2], "PNG"):
    sys.exit(f"cannot write {sys.argv[2]}")
EOF

step "validate"
if command -v appstreamcli >/dev/null; then
  appstreamcli validate --no-net --explain "$SHARE/metainfo/$ID.metainfo.xml"
else
  echo "appstreamcli not installed (apt-get install appstream): structural check only"
  "$PY" packaging/check-metainfo.py "$SHARE/metainfo/$ID.metainfo.xml"
fi
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$SHARE/applications/$ID.desktop"
fi
for exe in quicksilver quicksilver-server; do
  [[ -x "$BUNDLE/$exe" ]] || { echo "build-linux.sh: $BUNDLE/$exe missing" >&2; exit 1; }
done
ls "$BUNDLE"/_internal/PySide6/Qt/plugins/platforms/libqoffscreen.so >/dev/null

step "done"
echo "bundle: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)), built in $(($(date +%s) - start)) s"
