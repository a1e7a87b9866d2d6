"""What mail programs do, through the stdlib imaplib and IMAPClient."""

from __future__ import annotations

import asyncio
import imaplib

from imapclient import IMAPClient
from tests.imap.conftest import PASSWORD, USER
from tests.imap.messages import MULTIPART, SIMPLE


async def test_imapclient_session(imap):
    def run() -> None:
        with IMAPClient(imap.host, port=imap.port("imap"), ssl=False) as client:
            client.login(USER, PASSWORD)
            assert b"MOVE" in client.capabilities()
            folders = {name: flags for flags, _, name in client.list_folders()}
            assert b"\\Trash" in folders["Trash"] and b"\\Sent" in folders["Sent"]
            assert client.find_special_folder(b"\\Junk") == "Spam"
            client.create_folder("Projekte/Überblick")
            assert "Projekte/Überblick" in [name for _, _, name in client.list_folders()]
            client.append("INBOX", SIMPLE, flags=[b"\\Seen"])
            client.append("INBOX", MULTIPART)
            info = client.select_folder("INBOX")
            assert info[b"EXISTS"] == 2
            assert info[b"RECENT"] == 2  # the first session to see them (RFC 3501 §2.3.2)
            uids = client.search(["UNSEEN"])
            assert uids == [2]
            data = client.fetch(uids, ["ENVELOPE", "BODYSTRUCTURE", "RFC822.SIZE", "BODY.PEEK[]"])
            envelope = data[2][b"ENVELOPE"]
            assert envelope.subject == b"=?utf-8?q?Gr=C3=BC=C3=9Fe?= and a file"
            assert envelope.from_[0].mailbox == b"bob"
            assert data[2][b"BODY[]"] == MULTIPART
            assert data[2][b"BODYSTRUCTURE"].is_multipart
            client.add_flags([1], [b"\\Flagged"])
            assert set(client.get_flags([1])[1]) == {b"\\Seen", b"\\Flagged", b"\\Recent"}
            client.move([1], "Trash")
            assert client.folder_status("Trash", [b"MESSAGES"])[b"MESSAGES"] == 1
            client.delete_messages([2])
            assert client.expunge()
            assert client.search() == []
            client.idle()
            client.idle_done()
            assert client.namespace().personal == (("", "/"),)
            quota = client.get_quota_root("INBOX")
            assert quota[0].mailbox == "INBOX"
            client.logout()

    await asyncio.to_thread(run)


async def test_imaplib_mail_program_flow(imap):
    def run() -> None:
        client = imaplib.IMAP4(imap.host, imap.port("imap"))
        client.login(USER, PASSWORD)
        for n in range(5):
            client.append("INBOX", None, None, SIMPLE.replace(b"Hello there", b"Hello %d" % n))
        typ, data = client.select("INBOX")
        assert data == [b"5"]
        typ, data = client.uid("SEARCH", None, "SUBJECT", '"Hello 3"')
        assert data == [b"4"]
        typ, data = client.uid("FETCH", "1:*", "(FLAGS)")
        assert len(data) == 5
        client.store("1:2", "+FLAGS", "\\Deleted")
        typ, data = client.expunge()
        assert data == [b"1", b"1"]
        typ, data = client.uid("COPY", "3", "Sent")
        assert typ == "OK"
        typ, data = client.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")
        assert data[0][1] == b"Subject: Hello 2\r\n\r\n"
        typ, data = client.status("INBOX", "(MESSAGES UNSEEN)")
        assert data == [b"INBOX (MESSAGES 3 UNSEEN 2)"]
        client.close()
        client.logout()

    await asyncio.to_thread(run)
