"""The command table: every command type, its handler and the states that allow it.

Declared once (STYLE §7.3); the listener (server.py) gives it to each `Session`,
whose `dispatch` looks commands up in it, so the session module imports no handler.
"""

from __future__ import annotations

from postfach.imap import commands as c
from postfach.imap.handlers import (
    append,
    auth,
    contexts,
    fetch,
    mailboxes,
    notify,
    search,
    select,
    store,
    threads,
    urlauth,
)
from postfach.imap.notifying import Notifying
from postfach.imap.session import CommandTable
from postfach.imap.state import ANY, AUTHED, State
from postfach.imap.updates import UpdateContexts

__all__ = ["COMMANDS"]

SEL = State.SELECTED

COMMANDS: CommandTable = {
    c.Capability: (auth.capability, ANY),
    c.Noop: (auth.noop, ANY),
    c.Logout: (auth.logout, ANY),
    c.Id: (auth.id_, ANY),
    c.StartTls: (auth.starttls, State.NOT_AUTH),
    c.Login: (auth.login, State.NOT_AUTH),
    c.Authenticate: (auth.authenticate, State.NOT_AUTH),
    c.Enable: (auth.enable, AUTHED),
    c.Namespace: (mailboxes.namespace, AUTHED),
    c.Select: (select.select, AUTHED),
    c.Create: (mailboxes.create, AUTHED),
    c.Delete: (mailboxes.delete, AUTHED),
    c.Rename: (mailboxes.rename, AUTHED),
    c.Subscribe: (mailboxes.subscribe, AUTHED),
    c.ListMailboxes: (mailboxes.list_mailboxes, AUTHED),
    c.Status: (mailboxes.status, AUTHED),
    c.Append: (append.append, AUTHED),
    c.Idle: (select.idle, AUTHED),
    c.GetQuota: (mailboxes.getquota, AUTHED),
    c.GetQuotaRoot: (mailboxes.getquotaroot, AUTHED),
    c.SetQuota: (mailboxes.setquota, AUTHED),
    c.Check: (select.check, SEL),
    c.Close: (select.close, SEL),
    c.Unselect: (select.unselect, SEL),
    c.Expunge: (store.expunge, SEL),
    c.Search: (search.search, SEL),
    c.Fetch: (fetch.fetch, SEL),
    c.Store: (store.store, SEL),
    c.Copy: (store.copy, SEL),
    c.Sort: (threads.sort, SEL),
    c.Thread: (threads.thread, SEL),
    c.CancelUpdate: (contexts.cancelupdate, SEL),
    c.GenUrlAuth: (urlauth.genurlauth, AUTHED),
    c.ResetKey: (urlauth.resetkey, AUTHED),
    c.UrlFetch: (urlauth.urlfetch, AUTHED),
    c.Notify: (notify.notify, AUTHED),
    # not a command: what keeps RFC 5267 contexts current (Session.refresh_contexts)
    UpdateContexts: (contexts.refresh, SEL),
    # nor this: what NOTIFY asks for of the changes taken (Session.notify_deliver)
    Notifying: (notify.deliver, AUTHED),
}
