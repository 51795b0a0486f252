"""Structural check of the AppStream metainfo when appstreamcli is missing.

    python packaging/check-metainfo.py FILE.metainfo.xml

Checks what a store needs (not a full AppStream validation): the required
elements, the launchable desktop-id, the binaries, an https screenshot, a
release, an OARS rating and the two licences.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def check(path: str) -> list[str]:
    root = ET.parse(path).getroot()
    errors: list[str] = []
    if root.tag != "component" or root.get("type") != "desktop-application":
        errors.append('root must be <component type="desktop-application">')
    cid = root.findtext("id", "").strip()
    if cid.count(".") < 2:
        errors.append(f"id {cid!r} is not reverse-DNS")
    for tag, want in (("metadata_license", "CC0-1.0"), ("project_license", "MIT")):
        if root.findtext(tag, "").strip() != want:
            errors.append(f"<{tag}> must be {want}")
    for tag in ("name", "summary"):
        if not root.findtext(tag, "").strip():
            errors.append(f"<{tag}> missing or empty")
    if root.find("description/p") is None:
        errors.append("<description> needs at least one <p>")
    launch = root.find("launchable[@type='desktop-id']")
    if launch is None or launch.text != f"{cid}.desktop":
        errors.append(f"<launchable type='desktop-id'> must be {cid}.desktop")
    binaries = {b.text for b in root.findall("provides/binary")}
    if binaries != {"quicksilver", "quicksilver-server"}:
        errors.append(f"<provides> binaries are {sorted(binaries)}")
    images = [i.text or "" for i in root.findall("screenshots/screenshot/image")]
    if not images or not all(i.startswith("https://") for i in images):
        errors.append("screenshots need https image URLs")
    if not [r.get("version") for r in root.findall("releases/release")]:
        errors.append("<releases> needs a <release version=...>")
    if root.find("content_rating") is None:
        errors.append("<content_rating> missing")
    return errors


if __name__ == "__main__":
    problems = check(sys.argv[1])
    for p in problems:
        print(f"{sys.argv[1]}: {p}", file=sys.stderr)
    print("metainfo: structural check", "FAILED" if problems else "passed")
    sys.exit(1 if problems else 0)
