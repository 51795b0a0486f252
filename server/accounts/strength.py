"""How hard a password is to guess: the one rule every door applies.

What it does: ``password_problem`` says why a new password is refused, or None;
``estimate`` gives the window's meter a score, a word and that reason. The
core (``AccountStore.add_user`` / ``set_password``), the shell commands, the
facade and the dialogs all call these, so no door is softer than another.

The rule: at least ``MIN_LENGTH`` characters (NIST SP 800-63B 5.1.1.2: eight
for a password a person chooses) and a zxcvbn score of at least ``MIN_SCORE``.
zxcvbn (Dropbox's estimator: dictionaries of common passwords, names and words,
keyboard patterns, dates, repeats, l33t) turns a password into a number of
guesses; score 3 is "safely unguessable: moderate protection from an offline
slow-hash scenario" (10^8 to 10^10 guesses), which is what an Argon2id hash
taken from a stolen ``accounts.sqlite3`` must withstand. Words the person's own
account is made of (the user name, the domain, the display name) count as known
to an attacker.

Limits: zxcvbn's matching is super-linear in the length (a 64-character random
string took 290 ms here, 32 characters at most 8 ms), so only the first
``STRENGTH_INPUT_LIMIT`` characters are judged: a longer password is at least
as strong as its beginning. zxcvbn keeps the user inputs in a module-level
dictionary, so calls are serialised by a lock. The library is imported on first
use (about 20 ms of dictionaries).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# NIST SP 800-63B 5.1.1.2: memorized secrets chosen by a person: 8 at least.
MIN_LENGTH = 8
# zxcvbn score 0..4; 3 = at least 10^8 guesses ("safely unguessable").
MIN_SCORE = 3
# zxcvbn's run time grows fast with the length: judge this many characters.
STRENGTH_INPUT_LIMIT = 32
# The words of the meter, by zxcvbn score.
SCORE_WORDS = ("weak", "weak", "fair", "good", "strong")
# User inputs are words: more than this many (or longer ones) add nothing.
MAX_USER_INPUTS = 16
MAX_USER_INPUT_LENGTH = 64

_lock = threading.Lock()


@dataclass(frozen=True)
class PasswordEstimate:
    score: int  # 0..4 (zxcvbn), 0 when shorter than MIN_LENGTH
    word: str  # weak / fair / good / strong
    problem: str  # why it is refused; "" when it is acceptable


def _words(user_inputs: Iterable[str]) -> list[str]:
    """The account's own words: ``alice@example.org`` gives itself, alice,
    example.org, example; a display name gives itself and each of its words."""
    out: list[str] = []
    for item in user_inputs:
        whole = item.strip().lower()[:MAX_USER_INPUT_LENGTH]
        if whole and whole not in out:
            out.append(whole)
        for part in item.replace("@", " ").split():
            part = part.strip().lower()[:MAX_USER_INPUT_LENGTH]
            if part and part not in out:
                out.append(part)
            for label in part.split("."):
                if len(label) > 2 and label not in out:
                    out.append(label)
    return out[:MAX_USER_INPUTS]


def _zxcvbn(password: str, words: list[str]) -> dict[str, Any]:
    from zxcvbn import zxcvbn

    with _lock:
        result: dict[str, Any] = zxcvbn(
            password[:STRENGTH_INPUT_LIMIT],
            user_inputs=words,
            max_length=STRENGTH_INPUT_LIMIT,
        )
    return result


def estimate(password: str, user_inputs: Iterable[str] = ()) -> PasswordEstimate:
    """Score a password for the meter and say what is wrong with it, if anything."""
    if not password:
        return PasswordEstimate(0, "weak", "The password is empty.")
    if len(password) < MIN_LENGTH:
        return PasswordEstimate(
            0, "weak", f"The password needs at least {MIN_LENGTH} characters."
        )
    result = _zxcvbn(password, _words(user_inputs))
    score = int(result["score"])
    word = SCORE_WORDS[max(0, min(score, 4))]
    if score >= MIN_SCORE:
        return PasswordEstimate(score, word, "")
    feedback = result.get("feedback") or {}
    hint = " ".join(
        t
        for t in (
            str(feedback.get("warning") or ""),
            str((feedback.get("suggestions") or [""])[0]),
        )
        if t
    )
    text = f"The password is too easy to guess ({word})."
    if hint:
        text += f" {hint}"
    elif score == MIN_SCORE - 1:
        text += " Make it longer."
    return PasswordEstimate(score, word, text)


def password_problem(password: str, user_inputs: Iterable[str] = ()) -> str | None:
    """Why ``password`` is too weak for a mailbox, or None when it will do."""
    problem = estimate(password, user_inputs).problem
    return problem or None
