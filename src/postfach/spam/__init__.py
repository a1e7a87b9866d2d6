"""Spam: how suspicious a message is, and what is learnt from where users file it.

`verdict.py` is the contract every scorer keeps (the built-in one and rspamd):
a message and the facts of its arrival in, a score and the rules that fired out.
`rspamd.py` is the scorer that asks rspamd (`[spam] rspamd`).
"""
