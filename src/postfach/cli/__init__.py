"""The operator's command line (DESIGN.md, "Contract").

Owns argument parsing and what each `postfach` command prints; the work is done
by the packages it calls (store, queue, mailing, helpers, app for `serve`).
"""
