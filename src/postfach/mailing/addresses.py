"""E-mail address checks for contacts and senders (email-validator, no DNS)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

__all__ = ["AddressError", "normalize_address"]


class AddressError(ValueError):
    pass


def normalize_address(text: str) -> str:
    """The address with its domain normalized; raises AddressError saying why not."""
    candidate = text.strip()
    if not candidate:
        raise AddressError("empty address")
    try:
        result = validate_email(
            candidate, check_deliverability=False, allow_smtputf8=True, allow_display_name=False
        )
    except EmailNotValidError as exc:
        raise AddressError(str(exc)) from None
    return str(result.normalized)
