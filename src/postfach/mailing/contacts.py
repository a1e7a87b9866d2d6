"""Contact lists from CSV: an e-mail column plus any others (R22 guide, section 2).

The delimiter (comma, semicolon or tab) is sniffed; the e-mail column is the one
headed email, e-mail, mail or "email address" (any case), else the first.
Every other column becomes a template variable. Rows without a valid address
are reported with their line number in the file; the same address twice is one
contact, its columns merged (later non-empty values win).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from postfach.mailing.addresses import AddressError, normalize_address

__all__ = ["CsvContacts", "parse_csv"]

_EMAIL_HEADERS = ("email", "e-mail", "mail", "email address", "e-mail address", "address")


@dataclass(slots=True)
class CsvContacts:
    rows: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    columns: list[str] = field(default_factory=list)


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _email_column(header: list[str]) -> int:
    folded = [h.strip().lower() for h in header]
    for name in _EMAIL_HEADERS:
        if name in folded:
            return folded.index(name)
    return 0


def parse_csv(text: str) -> CsvContacts:
    """Parses the whole file; never raises for bad rows, it reports them."""
    result = CsvContacts()
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text[:8192]))
    header = next(reader, None)
    if header is None:
        result.errors.append((1, "the file is empty"))
        return result
    header = [h.strip() for h in header]
    result.columns = header
    column = _email_column(header)
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= column:
            result.errors.append((line, "no e-mail address in this row"))
            continue
        try:
            address = normalize_address(row[column])
        except AddressError as exc:
            result.errors.append((line, f"{row[column].strip()!r}: {exc}"))
            continue
        values = {
            name: row[i].strip() for i, name in enumerate(header) if i != column and i < len(row)
        }
        result.rows.append((address, values))
    return result
