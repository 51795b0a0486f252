"""Help > About Quicksilver."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from app.paths import app_icon


def open_about_box(parent: QWidget) -> QMessageBox:
    """Show the about box without blocking; it deletes itself when closed."""
    box = QMessageBox(parent)
    box.setWindowTitle("About Quicksilver")
    size = parent.fontMetrics().height() * 4
    box.setIconPixmap(app_icon().pixmap(size, size))
    box.setText(
        "<b>Quicksilver</b><br>A desktop mail server in the tradition of "
        "Mercury/32: SMTP, submission, POP3 and IMAP in one window."
    )
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
