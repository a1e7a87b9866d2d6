"""postfach.message — parse RFC 5322/MIME once, at delivery; serve IMAP sections.

The store calls `parse_message` when a message arrives and keeps
`ParsedMessage.to_json()` next to the raw blob. IMAP FETCH rebuilds it with
`ParsedMessage.from_json` and answers ENVELOPE / BODYSTRUCTURE from it and
BODY[...] / BINARY[...] with `section_bytes` / `decode_part_body`, never
parsing the message again. See `sections` for how the per-recipient trace
prefix combines with the shared blob.

Owns everything about a message's bytes that needs no server: parsing
(`parse`, `headers`, `params`, `decode`, `address`, including the From:
addresses SMTP checks and DKIM signs for), the parsed model (`model`), IMAP
sections (`sections`) and RFC 3461 xtext (`xtext`). It imports nothing else of
postfach's (import-linter contract in pyproject.toml).
"""

from postfach.message.headers import decode_words, header_value, trace_prefix
from postfach.message.model import Address, BodyPart, Envelope, ParsedMessage, SearchText
from postfach.message.params import param_value
from postfach.message.parse import parse_message
from postfach.message.sections import decode_part_body, find_part, section_bytes

__all__ = [
    "Address",
    "BodyPart",
    "Envelope",
    "ParsedMessage",
    "SearchText",
    "decode_part_body",
    "decode_words",
    "find_part",
    "header_value",
    "param_value",
    "parse_message",
    "section_bytes",
    "trace_prefix",
]
