"""The operator's command line (DESIGN.md, "Contract")."""
