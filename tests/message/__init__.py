"""Tests of postfach.message: parsing, sections, JSON form."""
