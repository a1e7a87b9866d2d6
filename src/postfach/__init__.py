"""postfach: a complete self-hosted mail service."""

__version__ = "0.1.0"
