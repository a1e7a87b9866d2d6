"""Sans-IO parsing of SMTP command lines into `commands` values (RFC 5321 §4.1).

`parse_command(line)` takes one line without its CRLF and returns a command or
raises `SmtpError` with the right 5xx reply. It never touches a socket, so any
bytes can be thrown at it (tests/smtp/test_parser_fuzz.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from postfach.message.xtext import xtext_decode as decode_xtext
from postfach.smtp import replies
from postfach.smtp.commands import (
    Auth,
    Bdat,
    Burl,
    Command,
    Data,
    Helo,
    Help,
    Mail,
    MailParams,
    Noop,
    Quit,
    Rcpt,
    RcptParams,
    Rset,
    StartTls,
    Vrfy,
)
from postfach.smtp.errors import SmtpError

__all__ = ["parse_address", "parse_command", "xtext_decode"]

# RFC 5321 §4.1.2 atext, widened by RFC 6531 §3.3 to any non-ASCII UTF-8 character.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_STRING = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_QUOTED = re.compile(r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\U0010ffff]|\\[\x20-\x7e])*"')
_LABEL = (
    r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\-\u0080-\U0010ffff]*[A-Za-z0-9\u0080-\U0010ffff])?"
)
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ADDRESS_LITERAL = re.compile(r"\[[A-Za-z0-9:.\-]+\]")
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_VALUE = re.compile(r"[^\s=\x00-\x1f\x7f]+")
_VERB = re.compile(rb"[A-Za-z]{1,16}")
_ADDR_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_DIGITS = re.compile(r"[0-9]{1,18}")
_DSN_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY"})

MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
MAX_DOMAIN = 255  # RFC 5321 §4.5.3.1.2
MAX_PATH = 256  # RFC 5321 §4.5.3.1.3
MAX_ENVID = 100  # RFC 3461 §4.4


def parse_command(line: bytes) -> Command:
    """One command line, CRLF removed. Raises SmtpError (500/501/502/555)."""
    verb_bytes, _, arg_bytes = line.strip(b" \t").partition(b" ")
    if not _VERB.fullmatch(verb_bytes):
        raise SmtpError(replies.SYNTAX_ERROR)
    verb = verb_bytes.decode("ascii").upper()
    try:
        arg = arg_bytes.decode("utf-8").strip(" \t")
    except UnicodeDecodeError:
        raise SmtpError(replies.BAD_ARGUMENTS) from None
    parser = _VERBS.get(verb)
    if parser is None:
        raise SmtpError(
            replies.NOT_IMPLEMENTED if verb in _KNOWN_UNSUPPORTED else replies.SYNTAX_ERROR
        )
    return parser(arg)


def _helo(extended: bool) -> Callable[[str], Command]:
    def parse(arg: str) -> Command:
        # RFC 5321 §4.1.1.1: a domain or address literal; clients send all sorts,
        # so any single printable token is taken.
        if not arg or any(c.isspace() for c in arg) or not arg.isprintable():
            raise SmtpError(replies.BAD_ARGUMENTS)
        return Helo(arg, extended)

    return parse


def _no_argument(command: Command) -> Callable[[str], Command]:
    def parse(arg: str) -> Command:
        if arg:
            raise SmtpError(replies.BAD_ARGUMENTS)
        return command

    return parse


def _noop(arg: str) -> Command:
    return Noop()  # RFC 5321 §4.1.1.9: a parameter string is allowed and ignored


def _help(arg: str) -> Command:
    return Help()


def _vrfy(arg: str) -> Command:
    if not arg:
        raise SmtpError(replies.BAD_ARGUMENTS)
    return Vrfy(arg)


def _mail(arg: str) -> Command:
    rest = _strip_keyword(arg, "FROM:", replies.BAD_SENDER)
    address, params = _split_path(rest, replies.BAD_SENDER, allow_null=True)
    return Mail(address, _mail_params(params))


def _rcpt(arg: str) -> Command:
    rest = _strip_keyword(arg, "TO:", replies.BAD_RECIPIENT)
    address, params = _split_path(rest, replies.BAD_RECIPIENT, allow_null=False)
    return Rcpt(address, _rcpt_params(params))


def _bdat(arg: str) -> Command:
    # RFC 3030 §2: "BDAT" SP chunk-size [ SP end-marker ]
    parts = arg.split()
    if not 1 <= len(parts) <= 2 or not _DIGITS.fullmatch(parts[0]):
        raise SmtpError(replies.BAD_ARGUMENTS)
    if len(parts) == 2 and parts[1].upper() != "LAST":
        raise SmtpError(replies.BAD_ARGUMENTS)
    return Bdat(int(parts[0]), len(parts) == 2)


def _burl(arg: str) -> Command:
    # RFC 4468 §3.1: "BURL" SP absolute-URI [SP end-marker]
    parts = arg.split()
    if not 1 <= len(parts) <= 2 or (len(parts) == 2 and parts[1].upper() != "LAST"):
        raise SmtpError(replies.BAD_ARGUMENTS)
    return Burl(parts[0], len(parts) == 2)


def _auth(arg: str) -> Command:
    # RFC 4954 §4: "AUTH" SP sasl-mech [SP initial-response]
    parts = arg.split()
    if not 1 <= len(parts) <= 2 or not re.fullmatch(r"[A-Za-z0-9\-_]{1,20}", parts[0]):
        raise SmtpError(replies.BAD_ARGUMENTS)
    return Auth(parts[0].upper(), parts[1] if len(parts) == 2 else None)


def _strip_keyword(arg: str, keyword: str, bad: replies.Reply) -> str:
    if arg[: len(keyword)].upper() != keyword:
        raise SmtpError(bad)
    return arg[len(keyword) :].lstrip(" ")


def _split_path(text: str, bad: replies.Reply, *, allow_null: bool) -> tuple[str, list[str]]:
    """Splits `<path> params...`; also takes a bare address without brackets."""
    if text.startswith("<"):
        end = _closing_bracket(text)
        if end < 0:
            raise SmtpError(bad)
        inner, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(" "):
            raise SmtpError(bad)
    else:
        inner, _, rest = text.partition(" ")
    if len(inner) > MAX_PATH:
        raise SmtpError(bad)
    address = parse_address(_strip_source_route(inner), bad, allow_null=allow_null)
    return address, rest.split()


def _closing_bracket(text: str) -> int:
    """Index of the `>` closing the path, skipping quoted local parts."""
    if '"' not in text:
        return text.find(">")
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            return index
    return -1


def _strip_source_route(path: str) -> str:
    # RFC 5321 §4.1.2 A-d-l: "@one,@two:user@host" — the route is ignored (§C).
    if path.startswith("@") and ":" in path:
        return path.split(":", 1)[1]
    return path


def parse_address(
    text: str, bad: replies.Reply = replies.BAD_ARGUMENTS, *, allow_null: bool = False
) -> str:
    """Checks a Mailbox (RFC 5321 §4.1.2); the domain comes back lower-cased."""
    if not text:
        if allow_null:
            return ""
        raise SmtpError(bad)
    if text.lower() == "postmaster" and not allow_null:
        return "postmaster"  # RFC 5321 §4.5.1: RCPT TO:<Postmaster> must work
    local, at, domain = text.rpartition("@")
    if not at or not _valid_local(local) or not _valid_domain(domain):
        raise SmtpError(bad)
    return f"{local}@{domain.lower()}"


def _valid_local(local: str) -> bool:
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        return False
    return bool(_DOT_STRING.fullmatch(local) or _QUOTED.fullmatch(local))


def _valid_domain(domain: str) -> bool:
    if len(domain.encode("utf-8")) > MAX_DOMAIN:
        return False
    return bool(_DOMAIN.fullmatch(domain) or _ADDRESS_LITERAL.fullmatch(domain))


def _split_params(words: list[str]) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not _KEYWORD.fullmatch(key) or (eq and not _VALUE.fullmatch(value)):
            raise SmtpError(replies.BAD_ARGUMENTS)
        key = key.upper()
        if key in params:
            raise SmtpError(replies.BAD_ARGUMENTS)
        params[key] = value if eq else None
    return params


def _mail_params(words: list[str]) -> MailParams:
    params = _split_params(words)
    size = _pop_size(params)
    body = params.pop("BODY", None)
    if body is not None and body.upper() not in ("7BIT", "8BITMIME", "BINARYMIME"):
        raise SmtpError(replies.BAD_PARAMETER)
    smtputf8 = "SMTPUTF8" in params
    if smtputf8 and params.pop("SMTPUTF8") is not None:
        raise SmtpError(replies.BAD_PARAMETER)
    ret = params.pop("RET", None)
    if ret is not None and ret.upper() not in ("FULL", "HDRS"):
        raise SmtpError(replies.BAD_PARAMETER)
    envid = _pop_xtext(params, "ENVID", MAX_ENVID)
    auth = _pop_xtext(params, "AUTH", 500)
    if params:
        raise SmtpError(replies.BAD_PARAMETER)
    return MailParams(
        size=size,
        body=body.upper() if body else None,
        smtputf8=smtputf8,
        ret=ret.upper() if ret else None,
        envid=envid,
        auth=auth,
    )


def _pop_size(params: dict[str, str | None]) -> int | None:
    if "SIZE" not in params:
        return None
    value = params.pop("SIZE")
    if value is None or not _DIGITS.fullmatch(value):
        raise SmtpError(replies.BAD_PARAMETER)
    return int(value)


def _pop_xtext(params: dict[str, str | None], key: str, limit: int) -> str | None:
    if key not in params:
        return None
    value = params.pop(key)
    if value is None or len(value) > limit:
        raise SmtpError(replies.BAD_PARAMETER)
    return xtext_decode(value)


def _rcpt_params(words: list[str]) -> RcptParams:
    params = _split_params(words)
    notify = _parse_notify(params.pop("NOTIFY")) if "NOTIFY" in params else None
    orcpt = _parse_orcpt(params.pop("ORCPT")) if "ORCPT" in params else None
    if params:
        raise SmtpError(replies.BAD_PARAMETER)
    return RcptParams(notify=notify, orcpt=orcpt)


def _parse_notify(value: str | None) -> frozenset[str]:
    # RFC 3461 §4.1: "NEVER" alone, or a list of SUCCESS / FAILURE / DELAY.
    if not value:
        raise SmtpError(replies.BAD_PARAMETER)
    items = frozenset(v.upper() for v in value.split(","))
    if items == {"NEVER"} or (items and items <= _DSN_NOTIFY):
        return items
    raise SmtpError(replies.BAD_PARAMETER)


def _parse_orcpt(value: str | None) -> tuple[str, str]:
    # RFC 3461 §4.2: ORCPT=addr-type ";" xtext
    addr_type, semi, text = (value or "").partition(";")
    if not semi or not _ADDR_TYPE.fullmatch(addr_type) or not text or len(value or "") > 500:
        raise SmtpError(replies.BAD_PARAMETER)
    return addr_type.lower(), xtext_decode(text)


def xtext_decode(value: str) -> str:
    """RFC 3461 §4 (message/xtext.py); a value that is not xtext gets 501."""
    try:
        return decode_xtext(value)
    except ValueError:
        raise SmtpError(replies.BAD_PARAMETER) from None


_KNOWN_UNSUPPORTED = frozenset({"EXPN", "TURN", "ETRN", "ATRN", "SEND", "SOML", "SAML"})

_VERBS: dict[str, Callable[[str], Command]] = {
    "HELO": _helo(False),
    "EHLO": _helo(True),
    "MAIL": _mail,
    "RCPT": _rcpt,
    "DATA": _no_argument(Data()),
    "BDAT": _bdat,
    "BURL": _burl,
    "RSET": _no_argument(Rset()),
    "NOOP": _noop,
    "QUIT": _no_argument(Quit()),
    "VRFY": _vrfy,
    "HELP": _help,
    "STARTTLS": _no_argument(StartTls()),
    "AUTH": _auth,
}
