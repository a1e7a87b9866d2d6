"""Content-Security-Policy of the pages: no scripts at all, nothing from other
sites; images from elsewhere only on a message page where the reader asked."""

from __future__ import annotations

__all__ = ["PAGE_POLICY", "page_policy"]


def page_policy(remote_images: bool = False) -> str:
    images = "'self' data: http: https:" if remote_images else "'self' data:"
    return (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        f"frame-ancestors 'none'; form-action 'self'; img-src {images}; "
        "style-src 'self' 'unsafe-inline'; frame-src 'self'"
    )


PAGE_POLICY = page_policy()
