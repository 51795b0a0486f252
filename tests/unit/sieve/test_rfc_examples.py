"""The examples of the RFCs, with the outcome each RFC describes.

(The same scripts, among others, are compared with Pigeonhole in
tests/integration/sieve; here the expected result is written down, so the
tests also run where Pigeonhole is not installed.)
"""

from __future__ import annotations

from server.sieve import (
    Discard,
    Envelope,
    FileInto,
    Keep,
    Redirect,
    Reject,
    Vacation,
)
from tests.unit.sieve.helpers import folders, run

LIST_MSG = (
    b"From: Bob <bob@acme.example>\r\n"
    b"Sender: owner-ietf-mta-filters@imc.org\r\n"
    b"To: coyote@ACME.Example.COM\r\n"
    b"Subject: [acme-users] [fwd] version 1.0 is out\r\n"
    b"List-ID: ACME users <acme-users@lists.acme.example>\r\n"
    b"X-Priority: 2\r\n"
    b"\r\nMAKE MONEY FAST\r\n"
)
SPAM = (
    b"From: x@spam.example\r\nTo: someone@else.example\r\n"
    b"Subject: Make lots of money fast!\r\n\r\nbuy\r\n"
)
ENV = Envelope("bob@acme.example", "ken+mta-filters@example.com")

RFC5228_9 = """
require ["fileinto"];
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        { fileinto "filter"; }
elsif address :DOMAIN :is ["From", "To"] "example.com"
        { keep; }
elsif anyof (NOT address :all :contains ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject" ["*make*money*fast*", "*university*dipl*mas*"])
        { fileinto "spam"; }
else
        { fileinto "personal"; }
"""


def test_rfc5228_section9_example() -> None:
    assert folders(run(RFC5228_9, LIST_MSG)) == ["filter"]
    assert folders(run(RFC5228_9, SPAM)) == ["spam"]
    company = (
        b"From: boss@example.com\r\nTo: me@example.com\r\nSubject: hi\r\n\r\nx\r\n"
    )
    assert folders(run(RFC5228_9, company)) == ["INBOX"]
    other = b"From: a@b.example\r\nTo: me@example.com.au\r\nSubject: hi\r\n\r\nx\r\n"
    assert folders(run(RFC5228_9, other)) == ["personal"]


def test_rfc5228_section3_1_if_elsif_else() -> None:
    script = """
    if header :contains ["From"] ["coyote"] { redirect "acm@example.com"; }
    elsif header :contains "Subject" "$$$" { redirect "postmaster@example.com"; }
    else { redirect "field@example.com"; }
    """
    assert run(script, LIST_MSG).actions == (Redirect("field@example.com"),)
    msg = b"From: wile.coyote@acme.example\r\n\r\nx\r\n"
    assert run(script, msg).actions == (Redirect("acm@example.com"),)


def test_rfc5229_variables_examples() -> None:
    script = """
    require ["fileinto", "variables"];
    if header :matches "List-ID" "*<*@*" { fileinto "INBOX.lists.${2}"; stop; }
    """
    assert folders(run(script, LIST_MSG)) == ["INBOX.lists.acme-users"]
    script = """
    require ["fileinto", "variables"];
    if header :matches "Subject" "[*] *" { fileinto "INBOX.lists.${1}"; stop; }
    """
    assert folders(run(script, LIST_MSG)) == ["INBOX.lists.acme-users"]
    script = """
    require ["fileinto", "variables"];
    if address :matches ["To", "Cc"] ["coyote@**.com", "wile@**.com"] {
        fileinto "INBOX.business.${2}|${1}|${0}"; stop;
    }
    """
    assert folders(run(script, LIST_MSG)) == [
        "INBOX.business.ACME.Example||coyote@ACME.Example.COM"
    ]


def test_rfc5230_vacation_examples() -> None:
    script = """
    require "vacation";
    if header :contains "subject" "cyrus" {
        vacation "I'm out -- send mail to cyrus-bugs";
    } else {
        vacation "I'm out -- call me at +1 304 555 0123";
    }
    """
    r = run(script, LIST_MSG, ENV)
    assert r.actions == (
        Vacation(
            "I'm out -- call me at +1 304 555 0123",
            "I'm out -- call me at +1 304 555 0123"
            "<default-subject><default-from><NO-MIME>",
            7 * 86400,
        ),
        Keep(implicit=True),
    )
    script = """
    require "vacation";
    vacation :days 23 :addresses ["tjs@example.edu", "ts4z@landru.example.edu"]
       "I'm away until October 19.";
    """
    v = run(script, LIST_MSG).actions[0]
    assert isinstance(v, Vacation)
    assert v.period == 23 * 86400
    assert v.addresses == ("tjs@example.edu", "ts4z@landru.example.edu")


def test_rfc5231_relational_example() -> None:
    script = """
    require ["relational", "comparator-i;ascii-numeric", "fileinto"];
    if header :value "lt" :comparator "i;ascii-numeric" ["x-priority"] ["3"]
    { fileinto "Priority"; }
    elsif address :count "gt" :comparator "i;ascii-numeric" ["to"] ["5"]
    { fileinto "SPAM"; }
    elsif address :value "gt" :all :comparator "i;ascii-casemap" ["from"] ["M"]
    { fileinto "From N-Z"; }
    else { fileinto "From A-M"; }
    """
    assert folders(run(script, LIST_MSG)) == ["Priority"]
    assert folders(run(script, SPAM)) == ["From N-Z"]


def test_rfc5232_imap4flags_example() -> None:
    script = """
    require ["imap4flags", "fileinto", "variables"];
    if header :is "Sender" "owner-ietf-mta-filters@imc.org" {
        set "MyFlags" "\\\\Flagged $Work";
        keep :flags "${MyFlags}";
    }
    """
    assert run(script, LIST_MSG).actions == (Keep(("\\Flagged", "$Work")),)


def test_rfc5233_subaddress_example() -> None:
    script = """
    require ["envelope", "subaddress", "fileinto"];
    if envelope :user "to" "postmaster" { fileinto "inbox.postmaster"; stop; }
    if envelope :detail "to" "mta-filters" { fileinto "inbox.ietf-mta-filters"; }
    if envelope :detail "to" "foo" { redirect "ken@example.net"; }
    """
    assert folders(run(script, LIST_MSG, ENV)) == ["inbox.ietf-mta-filters"]


def test_rfc5260_date_example() -> None:
    script = """
    require ["date", "relational", "fileinto"];
    if allof(header :is "from" "boss@example.com",
             date :value "ge" :originalzone "date" "hour" "09",
             date :value "lt" :originalzone "date" "hour" "17")
    { fileinto "urgent"; }
    """
    msg = b"From: boss@example.com\r\nDate: Tue, 1 Apr 1997 09:06:31 -0800\r\n\r\nx\r\n"
    assert folders(run(script, msg)) == ["urgent"]
    late = msg.replace(b"09:06:31", b"19:06:31")
    assert folders(run(script, late)) == ["INBOX"]


def test_rfc5293_editheader_example() -> None:
    script = """
    require ["editheader"];
    if header :contains "X-Sieve-Filtered" ["<kim@job.example.com>"] { stop; }
    addheader "X-Sieve-Filtered" "<kim@job.example.com>";
    redirect "kim@home.example.com";
    """
    r = run(script, LIST_MSG)
    redirect = r.actions[0]
    assert isinstance(redirect, Redirect) and redirect.header_edits
    filtered = b"X-Sieve-Filtered: <kim@job.example.com>\r\n" + LIST_MSG
    assert run(script, filtered).actions == (Keep(implicit=True),)


def test_rfc5429_reject_and_ereject_examples() -> None:
    script = """
    require ["reject"];
    if size :over 10 {
        reject text:
    Your message is too big.
    .
    ;
    }
    """
    r = run(script.replace("\n    ", "\n"), LIST_MSG)
    assert r.actions == (Reject("Your message is too big.\r\n"),)
    script = """
    require ["ereject"];
    if address :domain :is "from" "acme.example" {
        ereject "I no longer accept mail from this domain";
    }
    """
    assert run(script, LIST_MSG).actions == (
        Reject("I no longer accept mail from this domain", ereject=True),
    )


def test_rfc5173_body_examples() -> None:
    assert run(
        'require "body"; if body :raw :contains "MAKE MONEY FAST" { discard; }',
        LIST_MSG,
    ).actions == (Discard(),)
    script = """
    require ["body", "fileinto"];
    if body :content "text" :contains ["missile", "coordinates"] { fileinto "secrets"; }
    if body :content "audio/mp3" :contains "" { fileinto "jukebox"; }
    """
    msg = b"Subject: x\r\n\r\nthe coordinates are secret\r\n"
    assert folders(run(script, msg)) == ["secrets"]


def test_rfc3894_copy_example() -> None:
    r = run('require ["copy", "fileinto"]; fileinto :copy "incoming";', LIST_MSG)
    assert r.actions == (FileInto("incoming", copy=True), Keep(implicit=True))


def test_rfc5490_mailbox_example() -> None:
    r = run('require ["mailbox", "fileinto"]; fileinto :create "INBOX.Spam";', SPAM)
    assert r.actions == (FileInto("INBOX.Spam", create=True),)


def test_regex_draft_example() -> None:
    script = """
    require ["regex", "variables", "fileinto"];
    if header :regex "list-id" "<([a-z-]+)@" { fileinto "lists.${1}"; }
    """
    assert folders(run(script, LIST_MSG)) == ["lists.acme-users"]
