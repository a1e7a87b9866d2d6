"""The examples of RFC 5228 and of the extension RFCs, compiled and run on
messages that make each branch go, with the actions the RFCs describe."""

from __future__ import annotations

import datetime

from postfach.sieve import compile_script
from postfach.sieve.actions import (
    Action,
    Discard,
    FileInto,
    Keep,
    Redirect,
    Reject,
    Vacation,
)
from postfach.sieve.interpreter import run
from postfach.sieve.mailview import Envelope, MailView, RunContext

ME = "me@example.com"


def mail(headers: str, body: str = "Hello.\r\n", size: int = 0) -> MailView:
    text = headers.replace("\n", "\r\n") + "\r\n" + body
    if size:
        text += "x" * (size - len(text))
    return MailView(text.encode())


def actions(
    script: str,
    view: MailView,
    envelope: Envelope | None = None,
    mailboxes: frozenset[str] = frozenset({"INBOX"}),
    now: datetime.datetime | None = None,
) -> list[Action]:
    context = RunContext(envelope or Envelope("sender@example.net", ME), mailboxes, now)
    return run(compile_script(script), view, context).actions


# RFC 5228 §9: the example script, every branch.
RFC5228_EXAMPLE = """#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto", "reject"];

#
# Reject any large messages (note that the four leading dots get
# "stuffed" to three)
#
if size :over 1M
        {
        reject text:
Please do not send me large attachments.
Put your file on a server and send me the URL.
Thank you.
.... Fred
.
;
        stop;
        }
#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter folder
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" folder
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" folder
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" folder
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # folder.
        fileinto "personal";
        }
"""


def test_rfc5228_example_script() -> None:
    big = mail("From: x@example.net\nTo: me@example.com\n", size=2 * 1024 * 1024)
    reason = (
        "Please do not send me large attachments.\nPut your file on a server and send me "
        "the URL.\nThank you.\n... Fred\n"
    )
    assert actions(RFC5228_EXAMPLE, big) == [Reject(reason)]
    listed = mail("Sender: owner-ietf-mta-filters@imc.org\nTo: me@example.com\n")
    assert actions(RFC5228_EXAMPLE, listed) == [FileInto("filter")]
    colleague = mail("From: Boss <boss@EXAMPLE.com>\nTo: someone@example.org\n")
    assert actions(RFC5228_EXAMPLE, colleague) == [Keep()]
    not_to_me = mail("From: x@example.net\nTo: other@example.org\n")
    assert actions(RFC5228_EXAMPLE, not_to_me) == [FileInto("spam")]
    # To me, but only in Cc (a To: in example.com would be kept as the company's).
    spam = mail(
        "From: x@example.net\nTo: all@example.org\nCc: me@example.com\n"
        "Subject: Make lots of money fast\n"
    )
    assert actions(RFC5228_EXAMPLE, spam) == [FileInto("spam")]
    personal = mail("From: friend@example.net\nTo: we@example.org\nCc: me@example.com\n")
    assert actions(RFC5228_EXAMPLE, personal) == [FileInto("personal")]


def test_rfc5228_sections() -> None:
    # §4.2 redirect, §5.1 address, §5.5 exists, §4.3 keep, §4.4 discard.
    view = mail("From: tim@example.com\nDate: x\n")
    assert actions('redirect "bart@example.com";', view) == [Redirect("bart@example.com")]
    assert actions('if address :is :all "from" "tim@example.com" { discard; }', view) == [
        Discard()
    ]
    assert actions('if exists ["From","Date"] { keep; }', view) == [Keep()]
    assert actions('if exists ["From","X-None"] { discard; }', view) == [Keep(implicit=True)]
    # §2.7.1: "*" and "?" and the backslash; §5.7 :over and :under.
    assert actions('if header :matches "from" "t?m@*" { discard; }', view) == [Discard()]
    assert actions('if header :matches "from" "t\\\\?m@*" { discard; }', view)[0] == Keep(
        implicit=True
    )
    assert actions("if size :under 1K { discard; }", view) == [Discard()]


def test_rfc5229_variables() -> None:
    script = """require ["variables", "vacation"];
set "honorific"  "Mr";
set "first_name" "Wile";
set "last_name"  "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
set "a" "juMBlEd lETteRS";
set :length "b1" "${a}";
set :lower "b2" "${a}";
set :upperfirst "b3" "${a}";
set :upperfirst :lower "b4" "${a}";
set :quotewildcard "b5" "Rock*";
vacation :subject "${b1}|${b2}|${b3}|${b4}|${b5}" "${vacation}";
"""
    [keep, vacation] = sorted(actions(script, mail("To: me@example.com\n")), key=str)
    assert keep == Keep(implicit=True)
    assert isinstance(vacation, Vacation)
    assert vacation.reason == (
        "Dear Mr Coyote,\nI'm out, please leave a message after the meep.\n"
    )
    assert vacation.subject == "15|jumbled letters|JuMBlEd lETteRS|Jumbled letters|Rock\\*"


RFC5229_MATCHES = """require ["fileinto", "variables"];
if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.${2}"; stop;
}
# Imagine the header
# Subject: [acme-users] [fwd] version 1.0 is out
if header :matches "Subject" "[*] *" {
    # ${1} will hold "acme-users",
    # ${2} will hold "[fwd] version 1.0 is out"
    fileinto "INBOX.lists.${1}"; stop;
}
# Imagine the header
# To: coyote@ACME.Example.COM
if address :matches ["To", "Cc"] ["coyote@**.com",
        "wile@**.com"] {
    # ${0} is the matching address
    # ${1} is always the empty string
    # ${2} is part of the domain name ("ACME.Example")
    fileinto "INBOX.business.${2}"; stop;
} else {
    # Control wouldn't reach this block if any match was
    # successful, so no match variables are set at this
    # point.
}
if anyof (true, address :domain :matches "To" "*.com") {
    # The second test is never evaluated, so there are
    # still no match variables set.
    stop;
}
"""


def test_rfc5229_match_variables() -> None:
    listed = mail("List-ID: Acme <acme@lists.example.org>\n")
    # ${1} is "Acme ", ${2} "acme", ${3} "lists.example.org>".
    assert actions(RFC5229_MATCHES, listed) == [FileInto("INBOX.lists.acme")]
    subject = mail("Subject: [acme-users] [fwd] version 1.0 is out\n")
    assert actions(RFC5229_MATCHES, subject) == [FileInto("INBOX.lists.acme-users")]
    business = mail("To: coyote@ACME.Example.COM\n")
    assert actions(RFC5229_MATCHES, business) == [FileInto("INBOX.business.ACME.Example")]
    assert actions(RFC5229_MATCHES, mail("To: x@example.org\n")) == [Keep(implicit=True)]


def test_rfc5232_imap4flags() -> None:
    script = """require ["imap4flags", "fileinto", "variables"];
if size :over 1M {
    addflag "MyFlags" "Big";
    if header :is "From" "boss@company.example.com" {
        # The message will be marked as "\\Flagged Big" when filed into
        # mailbox "Big messages"
        addflag "MyFlags" "\\\\Flagged";
    }
    fileinto :flags "${MyFlags}" "Big messages";
}
"""
    boss = mail("From: boss@company.example.com\n", size=2 * 1024 * 1024)
    assert actions(script, boss) == [FileInto("Big messages", frozenset({"Big", "\\Flagged"}))]
    small = """require ["imap4flags", "fileinto"];
if header :contains "from" "boss@frobnitzm.example.edu" {
    setflag "\\\\Flagged";
    fileinto "INBOX.From Boss";
}
"""
    view = mail("From: boss@frobnitzm.example.edu\n")
    assert actions(small, view) == [FileInto("INBOX.From Boss", frozenset({"\\Flagged"}))]


def test_rfc5231_relational() -> None:
    script = """require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if header :value "lt" :comparator "i;ascii-numeric" ["x-priority"] ["3"] {
    fileinto "Priority";
} elsif address :count "gt" :comparator "i;ascii-numeric" ["to"] ["5"] {
    fileinto "Many";
} elsif header :count "ge" :comparator "i;ascii-numeric" "received" "2" {
    fileinto "Hops";
}
"""
    assert actions(script, mail("X-Priority: 1\n")) == [FileInto("Priority")]
    assert actions(script, mail("X-Priority: 3\n")) == [Keep(implicit=True)]
    many = "To: " + ", ".join(f"u{i}@example.org" for i in range(6)) + "\n"
    assert actions(script, mail(many)) == [FileInto("Many")]
    assert actions(script, mail("Received: a\nReceived: b\n")) == [FileInto("Hops")]


def test_rfc5233_subaddress() -> None:
    script = """require ["envelope", "subaddress", "fileinto"];
if envelope :user "to" "postmaster" { fileinto "inbox.postmaster"; stop; }
if envelope :detail :is "to" "mta-filters" { fileinto "inbox.ietf-mta-filters"; stop; }
if envelope :detail "to" "" { fileinto "inbox.empty-detail"; stop; }
"""
    view = mail("Subject: x\n")
    to = "ken+mta-filters@example.org"
    assert actions(script, view, Envelope("s@x", "postmaster+x@example.org")) == [
        FileInto("inbox.postmaster")
    ]
    assert actions(script, view, Envelope("s@x", to)) == [FileInto("inbox.ietf-mta-filters")]
    assert actions(script, view, Envelope("s@x", "ken+@example.org")) == [
        FileInto("inbox.empty-detail")
    ]
    # No separator: no detail, so not even "" matches (RFC 5233 §4).
    assert actions(script, view, Envelope("s@x", "ken@example.org")) == [Keep(implicit=True)]


def test_rfc5230_vacation() -> None:
    script = """require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at +1 304 555 0123";
}
"""
    [vacation, keep] = actions(script, mail("Subject: cyrus crashed\n"))
    assert vacation == Vacation("I'm out -- send mail to cyrus-bugs")
    assert keep == Keep(implicit=True)
    days = """require "vacation";
vacation :days 23 :addresses ["tjs@example.edu",
                              "ts4z@landru.example.edu"]
   "I'm away until October 19.  If it's an emergency, call 911, I guess." ;
"""
    [vacation, _keep] = actions(days, mail("Subject: x\n"))
    assert vacation == Vacation(
        "I'm away until October 19.  If it's an emergency, call 911, I guess.",
        days=23,
        addresses=("tjs@example.edu", "ts4z@landru.example.edu"),
    )
    subject = """require ["vacation", "variables"];
if header :matches "subject" "*" {
    vacation :subject "Automatic response to: ${1}" "I'm away";
}
"""
    [vacation, _keep] = actions(subject, mail("Subject: lunch?\n"))
    assert isinstance(vacation, Vacation) and vacation.subject == "Automatic response to: lunch?"
    mime = """require "vacation";
vacation :mime text:
Content-Type: multipart/alternative; boundary=foo

--foo

I'm at the beach relaxing.  Mmmm, surf...

--foo
Content-Type: text/html; charset=us-ascii

<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.0//EN"
 "http://www.w3.org/TR/REC-html40/strict.dtd">
<HTML><HEAD><TITLE>How to relax</TITLE>
<BASE HREF="http://home.example.com/pictures/"></HEAD>
<BODY><P>I'm at the <A HREF="beach.gif">beach</A> relaxing.
Mmmm, <A HREF="ocean.gif">surf</A>...
</BODY></HTML>

--foo--
.
;
"""
    [vacation, _keep] = actions(mime, mail("Subject: x\n"))
    assert isinstance(vacation, Vacation) and vacation.mime
    assert vacation.reason.startswith("Content-Type: multipart/alternative; boundary=foo\n")


def test_rfc5173_body() -> None:
    raw = """require "body";
if body :raw :contains "MAKE MONEY FAST" { discard; }
"""
    assert actions(raw, mail("Subject: x\n", "Now MAKE MONEY FAST!\r\n")) == [Discard()]
    content = """require ["body", "fileinto"];
if body :content "text" :contains ["missile", "coordinates"] { fileinto "secrets"; }
elsif body :content "audio/mp3" :contains "" { fileinto "jukebox"; }
elsif body :text :contains "project schedule" { fileinto "project/schedule"; }
"""
    mixed = (
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n',
        "--b\r\nContent-Type: text/plain\r\n\r\nThe missile left.\r\n--b\r\n"
        "Content-Type: audio/mp3\r\n\r\nID3\r\n--b--\r\n",
    )
    assert actions(content, mail(*mixed)) == [FileInto("secrets")]
    song = (mixed[0], mixed[1].replace("missile", "bird"))
    assert actions(content, mail(*song)) == [FileInto("jukebox")]
    plain = mail("Subject: x\n", "the project schedule slipped\r\n")
    assert actions(content, plain) == [FileInto("project/schedule")]


def test_rfc5260_date_and_index() -> None:
    script = """require ["date", "relational", "fileinto"];
if allof(header :is "from" "boss@example.com",
         date :value "ge" :originalzone "date" "hour" "09",
         date :value "lt" :originalzone "date" "hour" "17")
{ fileinto "urgent"; }
"""
    office = mail("From: boss@example.com\nDate: Mon, 07 Dec 2026 10:30:00 -0800\n")
    assert actions(script, office) == [FileInto("urgent")]
    evening = mail("From: boss@example.com\nDate: Mon, 07 Dec 2026 18:30:00 -0800\n")
    assert actions(script, evening) == [Keep(implicit=True)]
    july = """require ["date", "relational", "vacation"];
if allof(currentdate :value "ge" "date" "2007-06-30",
         currentdate :value "le" "date" "2007-07-07")
{ vacation :days 7  "I'm away during the first week in July."; }
"""
    zone = datetime.timezone(datetime.timedelta(hours=2))
    in_july = datetime.datetime(2007, 7, 3, 12, 0, tzinfo=zone)
    later = datetime.datetime(2007, 8, 1, 12, 0, tzinfo=zone)
    assert isinstance(actions(july, mail("X: y\n"), now=in_july)[0], Vacation)
    assert actions(july, mail("X: y\n"), now=later) == [Keep(implicit=True)]
    monthly = """require ["date", "variables", "fileinto"];
if currentdate :matches "month" "*" { set "month" "${1}"; }
if currentdate :matches "year"  "*" { set "year" "${1}"; }
fileinto "${month}-${year}";
"""
    assert actions(monthly, mail("X: y\n"), now=in_july) == [FileInto("07-2007")]
    index = """require ["date", "relational", "index"];
if date :value "gt" :index 2 :zone "-0500" "received"
        "iso8601" "2007-02-26T09:00:00-05:00"
{ redirect "aftercutoff@example.org"; }
"""
    received = (
        "Received: from a by b; Tue, 27 Feb 2007 08:00:00 -0500\n"
        "Received: from c by d; {second}\n"
    )
    late = mail(received.format(second="Mon, 26 Feb 2007 09:30:00 -0500"))
    early = mail(received.format(second="Mon, 26 Feb 2007 08:30:00 -0500"))
    assert actions(index, late) == [Redirect("aftercutoff@example.org")]
    assert actions(index, early) == [Keep(implicit=True)]


def test_rfc5429_reject_and_ereject() -> None:
    ereject = """require ["ereject"];
if address "from" "someone@example.com" {
    ereject "I no longer accept mail from this address";
}
"""
    view = mail("From: someone@example.com\n")
    assert actions(ereject, view) == [Reject("I no longer accept mail from this address", True)]
    reject = """require ["reject"];
if size :over 100K {
    reject text:
Your message is too big.  If you want to send me a big attachment,
put it on a public web site and send me a URL.
.
;
}
"""
    big = mail("From: x@example.org\n", size=200 * 1024)
    [action] = actions(reject, big)
    assert isinstance(action, Reject) and action.reason.startswith("Your message is too big.")


def test_rfc3894_copy_and_rfc5490_mailbox() -> None:
    copy = """require ["copy"];
if header :contains "subject" "-sieve" { redirect :copy "sieve-subscriber@example.com"; }
"""
    view = mail("Subject: [ietf-mta-filters] -sieve\n")
    assert actions(copy, view) == [Redirect("sieve-subscriber@example.com"), Keep(implicit=True)]
    assert actions('require ["copy", "fileinto"]; fileinto :copy "incoming";', view) == [
        FileInto("incoming"),
        Keep(implicit=True),
    ]
    mailbox = """require ["fileinto", "reject", "mailbox"];
if mailboxexists "Partners" {
    fileinto "Partners";
} else {
    reject "This message was not accepted by the Mailstore";
}
"""
    partners = frozenset({"INBOX", "Partners"})
    assert actions(mailbox, view, mailboxes=partners) == [FileInto("Partners")]
    assert actions(mailbox, view) == [Reject("This message was not accepted by the Mailstore")]
    create = 'require ["fileinto", "mailbox"]; fileinto :create "INBOX.folder";'
    assert actions(create, view) == [FileInto("INBOX.folder", create=True)]
