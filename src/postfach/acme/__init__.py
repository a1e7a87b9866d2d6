"""Certificates from an ACME CA (RFC 8555): ordering (order.py) and renewal (renewal.py)."""
