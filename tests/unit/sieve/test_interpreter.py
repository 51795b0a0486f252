"""The interpreter: every test, action and extension, the implicit keep, the
limits, and chains of scripts. Expected results follow the RFCs (and Pigeonhole
where the RFCs leave a choice; tests/integration/sieve compares the two)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest

from server.sieve import (
    AddHeader,
    DeleteHeader,
    Discard,
    Envelope,
    FileInto,
    Keep,
    MessageView,
    Redirect,
    Reject,
    SieveContext,
    SieveLimits,
    Vacation,
    compile_script,
    run_scripts,
)
from server.sieve import message as message_mod
from tests.unit.sieve.helpers import ENV, NOW, PLAIN, folders, run


def one(result_actions: tuple[object, ...], kind: type) -> object:
    found = [a for a in result_actions if isinstance(a, kind)]
    assert len(found) == 1, result_actions
    return found[0]


# -- the implicit keep and the base actions -------------------------------------


def test_empty_script_keeps() -> None:
    r = run("# nothing\n")
    assert r.actions == (Keep(implicit=True),)
    assert r.kept and not r.errors


def test_no_scripts_keep() -> None:
    r = run_scripts([], MessageView(PLAIN), ENV)
    assert r.actions == (Keep(implicit=True),)


def test_keep_discard_fileinto_redirect() -> None:
    assert run("keep;").actions == (Keep(),)
    assert run("discard;").actions == (Discard(),)
    r = run('require "fileinto"; fileinto "Work";')
    assert r.actions == (FileInto("Work"),)
    r = run('redirect "Bob <bob@EXAMPLE.net>";')
    assert r.actions == (Redirect("bob@example.net"),)


def test_discard_does_not_cancel_an_explicit_keep() -> None:
    r = run("keep; discard;")
    assert folders(r) == ["INBOX"]
    assert Discard() in r.actions


def test_stop_ends_the_script() -> None:
    assert folders(run('require "fileinto"; fileinto "a"; stop; fileinto "b";')) == [
        "a"
    ]
    assert folders(run("stop; discard;")) == ["INBOX"]


def test_if_elsif_else() -> None:
    script = (
        'require "fileinto";'
        'if header :is "x-spam-score" "1" { fileinto "one"; }'
        'elsif header :is "x-spam-score" "7" { fileinto "seven"; }'
        'else { fileinto "other"; }'
    )
    assert folders(run(script)) == ["seven"]


def test_duplicate_stores_and_redirects_collapse() -> None:
    r = run(
        'require ["fileinto", "imap4flags"];'
        'fileinto :flags "a" "X"; fileinto :flags "b" "X";'
        'redirect "u@example.com"; redirect "u@EXAMPLE.COM"; redirect "U@example.com";'
        'keep; fileinto "INBOX";'
    )
    assert [a for a in r.actions if isinstance(a, FileInto)] == [FileInto("X", ("b",))]
    assert [a.address for a in r.actions if isinstance(a, Redirect)] == [
        "u@example.com",
        "U@example.com",
    ]
    assert folders(r).count("INBOX") == 1


def test_fileinto_inbox_then_keep_is_one_keep() -> None:
    r = run('require "fileinto"; fileinto "INBOX"; keep;')
    assert r.actions == (Keep(),)


def test_copy_keeps_the_implicit_keep() -> None:
    r = run('require ["copy", "fileinto"]; fileinto :copy "A"; redirect :copy "b@x.y";')
    assert r.actions == (
        FileInto("A", copy=True),
        Redirect("b@x.y", copy=True),
        Keep(implicit=True),
    )


# -- header, address, envelope, exists, size ------------------------------------

ENCODED = (
    b"From: =?utf-8?q?J=C3=B6rg?= <j@example.de>\r\n"
    b"To: undisclosed-recipients:;\r\n"
    b'Cc: grp: a@x.y, "B, b" <b@x.y>;, me@example.com\r\n'
    b"Subject: =?iso-8859-1?q?K=F6ln?= =?utf-8?b?4oKs?=\r\n"
    b"  and more\r\n"
    b"X-Empty:\r\n"
    b"\r\nbody\r\n"
)


def test_header_values_are_decoded_and_unfolded() -> None:
    script = (
        'require "fileinto";'
        'if header :is "subject" "Köln€  and more" { fileinto "decoded"; }'
        'if header :contains "from" "JÖRG" { fileinto "ci-ascii-only"; }'
        'if header :contains "from" "Jörg" { fileinto "display"; }'
        'if header :is "x-empty" "" { fileinto "empty"; }'
    )
    assert folders(run(script, ENCODED)) == ["decoded", "display", "empty"]


def test_header_comparators() -> None:
    script = (
        'require "fileinto";'
        'if header :is "subject" "MEETING TOMORROW" { fileinto "casemap"; }'
        'if header :is :comparator "i;octet" "subject" "MEETING TOMORROW"'
        ' { fileinto "o"; }'
        'if header :contains :comparator "i;octet" "subject" "Meet" { fileinto "o2"; }'
    )
    assert folders(run(script)) == ["casemap", "o2"]


def test_header_matches_sets_match_variables() -> None:
    script = (
        'require ["fileinto", "variables"];'
        'if header :matches "from" "* <*@*>" { fileinto "${1}|${2}|${3}|${0}"; }'
    )
    assert folders(run(script)) == [
        "Alice Example|alice|example.org|Alice Example <alice@example.org>"
    ]


def test_address_parts_and_groups() -> None:
    script = (
        'require ["fileinto", "subaddress"];'
        'if address :is "cc" "b@x.y" { fileinto "group-member"; }'
        'if address :all :is "to" "undisclosed-recipients:;" { fileinto "raw"; }'
        'if address :localpart :matches "to" "*" { fileinto "never"; }'
        'if address :domain "from" "example.de" { fileinto "domain"; }'
    )
    assert folders(run(script, ENCODED)) == ["group-member", "raw", "domain"]


def test_subaddress_user_and_detail() -> None:
    script = (
        'require ["fileinto", "subaddress", "variables"];'
        'if address :user "cc" "bob" { fileinto "user"; }'
        'if address :detail :matches "cc" "*" { fileinto "detail-${1}"; }'
    )
    assert folders(run(script)) == ["user", "detail-lists"]
    ctx = SieveContext(now=NOW, subaddress_separator="-")
    msg = PLAIN.replace(b"bob+lists", b"bob-lists")
    assert folders(run(script, msg, ctx=ctx)) == ["user", "detail-lists"]


def test_empty_address_field_gives_empty_parts() -> None:
    script = (
        'require "fileinto";'
        'if address :localpart :is "cc" "" { fileinto "empty-local"; }'
        'if address :all :is "cc" "" { fileinto "empty-all"; }'
    )
    msg = b"From: a@b.c\r\nCc:\r\n\r\nx\r\n"
    assert folders(run(script, msg)) == ["empty-local", "empty-all"]


def test_envelope_parts() -> None:
    script = (
        'require ["envelope", "fileinto", "variables"];'
        'if envelope :all :is "from" "alice@example.org" { fileinto "from"; }'
        'if envelope :localpart "to" "postmaster" { fileinto "orig-to"; }'
        'if envelope :matches "auth" "*" { fileinto "auth-${1}"; }'
    )
    env = Envelope(
        "alice@example.org", "me@example.com", "postmaster@example.com", "alice"
    )
    assert folders(run(script, env=env)) == ["from", "orig-to", "auth-alice"]
    assert folders(run(script)) == ["from"]


def test_envelope_null_sender() -> None:
    """RFC 5228 section 5.4: the null reverse path compares as ""."""
    script = (
        'require ["envelope", "fileinto"];'
        'if envelope :is "from" "" { fileinto "null"; }'
        'if envelope :domain :is "from" "" { fileinto "null-domain"; }'
    )
    env = Envelope("", "me@example.com")
    assert folders(run(script, env=env)) == ["null", "null-domain"]


def test_exists_and_size() -> None:
    script = (
        'require "fileinto";'
        'if exists ["from", "X-CUSTOM"] { fileinto "both"; }'
        'if exists ["from", "nope"] { fileinto "never"; }'
        f'if size :over {len(PLAIN) - 1} {{ fileinto "over"; }}'
        f'if size :under {len(PLAIN)} {{ fileinto "never2"; }}'
    )
    assert folders(run(script)) == ["both", "over"]


def test_allof_anyof_short_circuit_match_variables() -> None:
    """RFC 5229 section 3.2: a test that is not evaluated sets nothing."""
    script = (
        'require ["fileinto", "variables"];'
        'if anyof (true, header :matches "subject" "*") { fileinto "[${1}]"; }'
        'if allof (false, header :matches "subject" "*") {}'
        'fileinto "after [${1}]";'
    )
    assert folders(run(script)) == ["[]", "after []"]


# -- body (RFC 5173) ------------------------------------------------------------

MIME = (
    b"From: a@b.c\r\nTo: me@example.com\r\nSubject: m\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="B"\r\n\r\npreamble\r\n--B\r\n'
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 secret plans\r\n--B\r\n"
    b"Content-Type: text/html\r\n\r\n<p>Hello <b>there</b> &amp; you</p>\r\n--B\r\n"
    b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"UERGIGJ5dGVz\r\n--B--\r\n"
)


@pytest.mark.parametrize(
    ("transform", "key", "found"),
    [
        (":text", "café secret", True),
        (":text", "Hello there & you", True),
        (":text", "<b>", False),
        (":text", "PDF bytes", False),
        (":raw", "caf=E9", True),
        (":raw", "café", False),
        (':content "text/html"', "<b>", True),
        (':content "application"', "PDF bytes", True),
        (':content "multipart"', "preamble", True),
        (':content "text"', "preamble", False),
        (':content ""', "PDF bytes", True),
    ],
)
def test_body_transforms(transform: str, key: str, found: bool) -> None:
    script = (
        'require ["body", "fileinto"];'
        f'if body {transform} :contains "{key}" {{ fileinto "hit"; }}'
    )
    assert (folders(run(script, MIME)) == ["hit"]) is found


def test_body_sets_no_match_variables() -> None:
    script = (
        'require ["body", "fileinto", "variables"];'
        'if header :matches "subject" "*" {}'
        'if body :matches "*secret*" { fileinto "${1}"; }'
    )
    assert folders(run(script, MIME)) == ["m"]


def test_body_text_is_cut_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_mod, "MAX_BODY_TEXT", 20)
    msg = b"From: a@b.c\r\n\r\n" + b"x" * 30 + b" needle\r\n"
    script = (
        'require ["body", "fileinto"];'
        'if body :raw :contains "needle" { fileinto "hit"; }'
    )
    assert folders(run(script, msg)) == ["INBOX"]


# -- variables, relational, regex -----------------------------------------------


def test_set_modifiers() -> None:
    script = (
        'require ["variables", "fileinto"];'
        'set "a" "juMBlEd lETteRS";'
        'set :length "b" "${a}"; fileinto "${b}";'
        'set :lower "b" "${a}"; fileinto "${b}";'
        'set :upperfirst :lower "b" "${a}"; fileinto "${b}";'
        'set :quotewildcard "b" "R*c?k\\\\"; fileinto "${b}";'
        'set :upper "b" "straße"; fileinto "${b}";'
    )
    assert folders(run(script)) == [
        "15",
        "jumbled letters",
        "Jumbled letters",
        "R\\*c\\?k\\\\",
        "STRAßE",
    ]


def test_variable_size_is_capped() -> None:
    script = 'require ["variables", "fileinto"]; set "a" "ééééé"; fileinto "${a}";'
    ctx = SieveContext(now=NOW, limits=SieveLimits(max_variable_size=5))
    # 5 octets of UTF-8: two é (4 octets), never half a character.
    assert folders(run(script, ctx=ctx)) == ["éé"]


def test_string_test_and_count() -> None:
    script = (
        'require ["variables", "fileinto", "relational", "comparator-i;ascii-numeric"];'
        'set "e" "";'
        'if string :is "Hello" "hello" { fileinto "casemap-default"; }'
        'if string :count "eq" :comparator "i;ascii-numeric" ["a", "${e}", "b"] "2"'
        ' { fileinto "count-non-empty"; }'
    )
    assert folders(run(script)) == ["casemap-default", "count-non-empty"]


@pytest.mark.parametrize(
    ("test", "found"),
    [
        ('header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "6"', True),
        ('header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "10"', False),
        (
            'header :value "lt" :comparator "i;ascii-numeric" "x-spam-score" "07x"',
            False,
        ),
        # RFC 4790 9.1.1: a string without digits is positive infinity.
        ('header :value "gt" :comparator "i;ascii-numeric" "subject" "99999"', True),
        ('header :value "eq" :comparator "i;ascii-numeric" "subject" "abc"', True),
        ('header :count "eq" :comparator "i;ascii-numeric" "x-custom" "2"', True),
        (
            'header :count "ge" :comparator "i;ascii-numeric" ["x-custom", "to"] "3"',
            True,
        ),
        ('address :count "eq" :comparator "i;ascii-numeric" "cc" "2"', True),
        ('header :value "lt" "subject" "n"', True),
        ('header :value "ne" "x-custom" "one"', True),
    ],
)
def test_relational(test: str, found: bool) -> None:
    script = (
        'require ["relational", "comparator-i;ascii-numeric", "fileinto"];'
        f'if {test} {{ fileinto "hit"; }}'
    )
    assert (folders(run(script)) == ["hit"]) is found


def test_regex_captures_and_case() -> None:
    script = (
        'require ["regex", "variables", "fileinto"];'
        'if header :regex "from" "<([a-z]+)@(.*)>" { fileinto "${1}-${2}"; }'
        'if header :regex "subject" "^MEETING" { fileinto "ci"; }'
        'if header :regex :comparator "i;octet" "subject" "^MEETING" { fileinto "no"; }'
    )
    assert folders(run(script)) == ["alice-example.org", "ci"]


def test_regex_built_from_a_variable_fails_safely(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bad pattern known only at run time is a run-time error: the message
    is kept, the error reported and logged."""
    script = (
        'require ["regex", "variables", "fileinto"];'
        'set "p" "(unclosed";'
        'fileinto "before";'
        'if header :regex "subject" "${p}" { discard; }'
    )
    with caplog.at_level(logging.INFO, logger="quicksilver.sieve"):
        r = run(script)
    assert r.actions == (Keep(implicit=True),)
    assert len(r.errors) == 1 and "regular expression" in r.errors[0].message
    assert r.errors[0].line == 1
    assert "keeping the message" in caplog.text


def test_regex_budget_is_a_runtime_error() -> None:
    script = 'require "regex"; if header :regex "subject" "(a|b|c|d)*x" { discard; }'
    msg = b"Subject: " + b"abcd" * 2000 + b"\r\n\r\n"
    ctx = SieveContext(now=NOW, limits=SieveLimits(regex_steps=10_000))
    r = run(script, msg, ctx=ctx)
    assert r.actions == (Keep(implicit=True),)
    assert "took too long" in r.errors[0].message


# -- date and index (RFC 5260) --------------------------------------------------


def test_date_parts_and_zones() -> None:
    script = (
        'require ["date", "variables", "fileinto"];'
        'if date :originalzone :matches "date" "iso8601" "*" { fileinto "${1}"; }'
        'if date :zone "+0000" :matches "date" "time" "*" { fileinto "${1}"; }'
        'if date :matches "date" "weekday" "*" { fileinto "wd${1}"; }'
        'if date :matches "date" "julian" "*" { fileinto "j${1}"; }'
        'if date :matches "received" "std11" "*" { fileinto "${1}"; }'
    )
    ctx = SieveContext(now=NOW, zone=timezone(timedelta(hours=-5)))
    assert folders(run(script, ctx=ctx)) == [
        "2024-06-03T11:14:59+02:00",
        "09:14:59",
        "wd1",  # Monday in -0500 too
        "j60464",
        "Mon, 03 Jun 2024 04:15:00 -0500",
    ]


def test_currentdate_uses_the_context_clock() -> None:
    script = (
        'require ["date", "variables", "fileinto", "relational"];'
        'if currentdate :matches "date" "*" { fileinto "${1}"; }'
        'if currentdate :zone "+1400" :value "eq" "day" "04" { fileinto "tomorrow"; }'
    )
    assert folders(run(script)) == ["2024-06-03", "tomorrow"]


def test_header_index() -> None:
    script = (
        'require ["index", "variables", "fileinto"];'
        'if header :index 2 :matches "x-custom" "*" { fileinto "${1}"; }'
        'if header :index 1 :last :matches "x-custom" "*" { fileinto "last-${1}"; }'
        'if header :index 3 :matches "x-custom" "*" { fileinto "never"; }'
    )
    assert folders(run(script)) == ["two", "last-two"]


# -- mailbox, imap4flags --------------------------------------------------------


def test_mailboxexists_and_create() -> None:
    script = (
        'require ["mailbox", "fileinto"];'
        'if mailboxexists ["INBOX", "Work"] { fileinto :create "Both"; }'
    )
    ctx = SieveContext(now=NOW, mailbox_exists=lambda m: m in ("INBOX", "Work"))
    assert run(script, ctx=ctx).actions == (FileInto("Both", create=True),)
    assert folders(run(script)) == ["INBOX"]


def test_internal_flags_reach_keep_and_fileinto() -> None:
    script = (
        'require ["imap4flags", "fileinto"];'
        'addflag ["\\\\seen", "Foo"]; fileinto "A";'
        'removeflag "foo"; addflag "\\\\Recent x(y \\\\Bogus ok"; keep;'
    )
    r = run(script)
    assert r.actions == (
        FileInto("A", ("\\Seen", "Foo")),
        Keep(("\\Seen", "ok")),
    )
    assert any("invalid IMAP flag" in w for w in r.warnings)


def test_hasflag_and_flag_variables() -> None:
    script = (
        'require ["imap4flags", "fileinto", "variables"];'
        'addflag "v" "a  b"; addflag "v" "B c";'
        'if hasflag :is "v" "c" { fileinto "c"; }'
        'if hasflag :is "a b" { fileinto "never"; }'
        'fileinto "[${v}]";'
        'keep :flags "${v}";'
    )
    r = run(script)
    assert folders(r) == ["c", "[a b c]", "INBOX"]
    assert one(r.actions, Keep) == Keep(("a", "b", "c"))


# -- reject, vacation -----------------------------------------------------------


def test_reject_and_ereject() -> None:
    assert run('require "reject"; reject "no";').actions == (Reject("no"),)
    assert run('require "ereject"; ereject "no";').actions == (Reject("no", True),)


@pytest.mark.parametrize(
    "script",
    [
        'require "reject"; keep; reject "x";',
        'require ["reject", "fileinto"]; reject "x"; fileinto "a";',
        'require ["reject", "copy"]; reject "x"; redirect :copy "a@b.c";',
        'require ["reject", "vacation"]; vacation "v"; reject "x";',
        'require ["reject", "vacation"]; reject "x"; vacation "v";',
        'require ["reject", "ereject"]; reject "x"; ereject "y";',
        'require "vacation"; vacation "a"; vacation "b";',
    ],
)
def test_conflicting_actions_fall_back_to_the_implicit_keep(script: str) -> None:
    r = run(script)
    assert r.actions == (Keep(implicit=True),)
    assert r.errors


def test_reject_with_discard_is_fine() -> None:
    assert run('require "reject"; reject "x"; discard;').actions == (
        Reject("x"),
        Discard(),
    )


def test_vacation_action_fields() -> None:
    script = (
        'require ["vacation", "vacation-seconds", "variables"];'
        'set "who" "Me";'
        'vacation :seconds 3600 :subject "Away ${who}" :from "me@example.com"'
        ' :addresses ["me2@example.com", "broken"]'
        ' :mime "Content-Type: text/plain\r\n\r\nx";'
    )
    r = run(script)
    v = one(r.actions, Vacation)
    assert isinstance(v, Vacation)
    assert v.period == 86400  # raised to the one-day minimum
    assert v.subject == "Away Me"
    assert v.from_address == "me@example.com"
    assert v.addresses == ("me2@example.com",)
    assert v.mime
    # The implicit handle is built from the source text, as Pigeonhole does.
    assert v.handle.endswith("Away ${who}me@example.com<MIME>")
    assert any("broken" in w for w in r.warnings)
    assert r.kept  # vacation does not cancel the implicit keep


def test_vacation_days_default_and_handle() -> None:
    v = one(
        run('require "vacation"; vacation :days 3 :handle "h" "r";').actions, Vacation
    )
    assert isinstance(v, Vacation) and (v.period, v.handle) == (3 * 86400, "h")
    v = one(run('require "vacation"; vacation "r";').actions, Vacation)
    assert isinstance(v, Vacation)
    assert v.period == 7 * 86400
    assert v.handle == "r<default-subject><default-from><NO-MIME>"


# -- editheader (RFC 5293) ------------------------------------------------------


def test_editheader_is_seen_by_later_tests_and_recorded() -> None:
    script = (
        'require ["editheader", "fileinto", "index", "variables"];'
        'fileinto "before";'
        'addheader "X-Tag" "first";'
        'addheader :last "X-Tag" "last";'
        'deleteheader :index 1 "x-custom";'
        'deleteheader "received";'
        'if header :index 1 :matches "x-tag" "*" { fileinto "${1}"; }'
        'if header :is "x-custom" "two" {'
        ' if not exists "x-nope" { fileinto "two-left"; } }'
        'if exists "received" { fileinto "received-protected"; }'
    )
    r = run(script)
    assert folders(r) == ["before", "first", "two-left", "received-protected"]
    edits = (
        AddHeader("X-Tag", "first"),
        AddHeader("X-Tag", "last", True),
        DeleteHeader("x-custom", 1),
    )
    stores = [a for a in r.actions if isinstance(a, FileInto)]
    assert stores[0].header_edits == ()  # filed before the edits
    assert stores[1].header_edits == edits
    assert any("not allowed" in w for w in r.warnings)


def test_deleteheader_with_value_patterns() -> None:
    script = (
        'require ["editheader", "fileinto", "variables"];'
        'deleteheader :matches "x-custom" "o*";'
        'if header :matches "x-custom" "*" { fileinto "${1}"; }'
    )
    r = run(script)
    assert folders(r) == ["two"]


def test_addheader_value_limit() -> None:
    r = run('require "editheader"; addheader "X-Big" "' + "a" * 3000 + '";')
    assert r.errors and r.actions == (Keep(implicit=True),)


# -- limits ---------------------------------------------------------------------


def test_redirect_limit() -> None:
    four = "".join(f'redirect "u{i}@example.com";' for i in range(4))
    assert len(run(four).actions) == 4
    r = run(four + 'redirect "u5@example.com";')
    assert r.actions == (Keep(implicit=True),)
    assert "too many redirects" in r.errors[0].message


def test_action_limit() -> None:
    script = 'require "fileinto";' + "".join(f'fileinto "f{i}";' for i in range(40))
    ctx = SieveContext(now=NOW, limits=SieveLimits(max_actions=10))
    r = run(script, ctx=ctx)
    assert r.actions == (Keep(implicit=True),)
    assert "too many actions" in r.errors[0].message


# -- chains (sieve_before / sieve_after) ----------------------------------------


def chain(*texts: str) -> tuple[object, ...]:
    scripts = [compile_script(t, f"s{i}") for i, t in enumerate(texts)]
    return run_scripts(scripts, MessageView(PLAIN), ENV, SieveContext(now=NOW)).actions


def test_chain_stop_only_ends_its_script() -> None:
    assert chain("stop;", 'require "fileinto"; fileinto "U";') == (FileInto("U"),)


def test_chain_ends_when_the_keep_is_cancelled() -> None:
    assert chain('require "fileinto"; fileinto "B";', "discard;") == (FileInto("B"),)
    assert chain("discard;", "keep;") == (Discard(),)


def test_chain_keep_of_an_earlier_script_is_not_performed() -> None:
    assert chain("keep;", 'require "fileinto"; fileinto "U";') == (FileInto("U"),)
    assert chain('require ["fileinto", "copy"]; fileinto :copy "B";', "keep;") == (
        FileInto("B", copy=True),
        Keep(),
    )


def test_chain_flags_carry_over() -> None:
    assert chain(
        'require "imap4flags"; addflag "X";', 'require "fileinto"; fileinto "U";'
    ) == (FileInto("U", ("X",)),)


def test_chain_error_keeps_earlier_actions() -> None:
    actions = chain(
        'require ["fileinto", "copy"]; fileinto :copy "B";',
        'require ["fileinto", "reject"]; fileinto "E"; reject "x";',
        'require "fileinto"; fileinto "never";',
    )
    assert actions == (FileInto("B", copy=True), Keep(implicit=True))


def test_header_edits_of_a_failed_script_are_dropped() -> None:
    scripts = [
        compile_script('require "editheader"; addheader "X-A" "1";'),
        compile_script(
            'require ["editheader", "reject"]; addheader "X-B" "2"; keep; reject "x";'
        ),
    ]
    r = run_scripts(scripts, MessageView(PLAIN), ENV)
    assert r.actions == (Keep(implicit=True, header_edits=(AddHeader("X-A", "1"),)),)


def test_runtime_error_reports_script_name_and_line() -> None:
    script = compile_script('require "reject";\nkeep;\nreject "x";\n', "user.sieve")
    r = run_scripts([script], MessageView(PLAIN), ENV)
    assert (r.errors[0].script, r.errors[0].line) == ("user.sieve", 3)


def test_context_defaults_are_usable() -> None:
    ctx = SieveContext()
    assert ctx.now.tzinfo is not None and abs(ctx.now - datetime.now(UTC)) < timedelta(
        minutes=1
    )
