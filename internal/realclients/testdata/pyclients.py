"""Scripted checks with Python's imaplib and poplib, run by
python_test.go against the embedded server and Dovecot.

Usage: pyclients.py IMAP_HOST:PORT POP3_HOST:PORT USER PASSWORD
The mailbox of USER must hold exactly the one message the test delivered
(Message-ID <py@t>). Prints one line per check, "ok NAME" or
"FAIL NAME: detail", and exits 1 if any failed.
"""

import imaplib
import poplib
import re
import sys

TIMEOUT = 20
failed = False


def check(name, cond, detail=""):
    global failed
    if cond:
        print("ok", name)
    else:
        failed = True
        print("FAIL %s: %s" % (name, detail))


def hostport(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def list_names(lines):
    names = []
    for line in lines:
        if line is None:
            continue
        m = re.match(rb'\((.*?)\) (NIL|"[^"]*") (.*)$', line)
        if m:
            names.append(m.group(3).strip(b'"').decode())
    return names


def imap_checks(addr, user, password):
    c = imaplib.IMAP4(*hostport(addr), timeout=TIMEOUT)
    c.login(user, password)
    typ, caps = c.capability()
    check("capability", typ == "OK" and b"IMAP4REV1" in caps[0].upper(), caps)

    typ, lines = c.list('""', "*")
    names = list_names(lines)
    check("list-no-duplicates", len(names) == len(set(names)), names)
    check("list-has-inbox-archive", "INBOX" in names and "Archive" in names, names)

    typ, lines = c.list('""', '""')
    check("list-delimiter", typ == "OK" and len(lines) == 1 and b'"/"' in lines[0], lines)

    for box in ["Py", "Py/Sub", "Py/p&AOQA5A-"]:
        typ, data = c.create(box)
        check("create " + box, typ == "OK", data)
    typ, lines = c.list('""', "Py/%")
    check("list-percent", sorted(list_names(lines)) == ["Py/Sub", "Py/p&AOQA5A-"], lines)
    typ, data = c.subscribe("Py/Sub")
    typ, lines = c.lsub('""', "Py/*")
    check("lsub", list_names(lines) == ["Py/Sub"], lines)

    msg = b"From: Py Sender <py-sender@example.net>\r\nSubject: appended\r\nMessage-ID: <app@t>\r\n\r\nbody\r\n"
    typ, data = c.append("Py/Sub", r"(\Seen $Label)", None, msg)
    check("append", typ == "OK", data)

    typ, data = c.select("Py/Sub")
    check("select", typ == "OK" and data == [b"1"], data)
    flags = c.response("FLAGS")[1]
    check("flags-announce-keyword", flags and flags[0] and b"$Label" in flags[0], flags)
    typ, data = c.fetch("1", "(FLAGS)")
    check("fetch-keyword", typ == "OK" and b"$Label" in data[0] and b"\\Seen" in data[0], data)

    typ, data = c.search(None, "FROM", "py-sender@example.net")
    check("search-from", data == [b"1"], data)
    typ, data = c.search(None, "KEYWORD", "$Label")
    check("search-keyword", data == [b"1"], data)

    typ, data = c.store("1", "-FLAGS", r"(\Seen)")
    typ, data = c.search(None, "UNSEEN")
    check("store-unseen", data == [b"1"], data)

    typ, data = c.uid("SEARCH", None, "ALL")
    uid = data[0].split()[0] if data and data[0] else b""
    typ, data = c.uid("MOVE", uid, "INBOX")
    check("uid-move", typ == "OK", data)
    typ, data = c.select("Py/Sub")
    check("moved-away", data == [b"0"], data)

    typ, data = c.select("INBOX")
    check("inbox-count", data == [b"2"], data)
    typ, data = c.search(None, "HEADER", "Message-ID", "<py@t>")
    check("search-delivered", data == [b"1"], data)
    typ, data = c.fetch("2", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    check("moved-here", typ == "OK" and b"<app@t>" in data[0][1], data)
    c.store("2", "+FLAGS", r"(\Deleted)")
    typ, data = c.expunge()
    check("expunge", typ == "OK" and data == [b"2"], data)

    for box in ["Py/p&AOQA5A-", "Py/Sub", "Py"]:
        typ, data = c.delete(box)
        check("delete " + box, typ == "OK", data)
    c.logout()


def pop3_checks(addr, user, password):
    p = poplib.POP3(*hostport(addr), timeout=TIMEOUT)
    p.user(user)
    p.pass_(password)
    count, size = p.stat()
    check("pop3-stat", count == 1 and size > 0, (count, size))
    resp, lines, _ = p.uidl()
    check("pop3-uidl", len(lines) == 1 and len(lines[0].split()) == 2, lines)
    resp, lines, _ = p.top(1, 0)
    check("pop3-top", any(l.lower().startswith(b"message-id: <py@t>") for l in lines), lines)
    resp, lines, octets = p.retr(1)
    check("pop3-retr", any(l == b"Hello py@t." for l in lines), lines)
    p.dele(1)
    p.quit()
    p = poplib.POP3(*hostport(addr), timeout=TIMEOUT)
    p.user(user)
    p.pass_(password)
    check("pop3-deleted", p.stat()[0] == 0, p.stat())
    p.quit()


def main():
    imap_addr, pop3_addr, user, password = sys.argv[1:5]
    imap_checks(imap_addr, user, password)
    pop3_checks(pop3_addr, user, password)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
