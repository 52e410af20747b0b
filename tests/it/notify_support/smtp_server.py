"""A real SMTP server for seatkeeper's mail tests and benchmark: aiosmtpd on loopback.

It binds 127.0.0.1 on a free port, prints `READY <port>` on stdout, and writes each accepted
message to OUT/<n>.json (envelope, the parsed headers, the decoded body, the raw data), so the
Rust side reads back what a real server received. Runs until its stdin closes or it is killed.

Options:
  --out DIR               where accepted messages go (required)
  --starttls CERT KEY     offer STARTTLS with this certificate (PEM files)
  --implicit-tls CERT KEY speak TLS from the first byte (smtps)
  --auth USER PASSWORD    require AUTH PLAIN/LOGIN with these credentials
  --transient N           answer the first N DATA commands `451` (then accept)
  --reject                answer every DATA `554`
  --no-save               count messages but write nothing (the benchmark)
  --slow-reply N MS       save the Nth DATA, then wait MS ms before answering it (a client
                          killed meanwhile has had its message delivered but not its answer)
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, out, transient, reject, save, implicit_tls, slow_reply=None):
        self.out = out
        self.slow_reply = slow_reply
        self.implicit_tls = implicit_tls
        self.transient = transient
        self.reject = reject
        self.save = save
        self.data_commands = 0
        self.accepted = 0

    async def handle_DATA(self, server, session, envelope):
        self.data_commands += 1
        # Counted in a file too, so a test can tell how many attempts reached DATA.
        with open(os.path.join(self.out, "attempts"), "w") as f:
            f.write(str(self.data_commands))
        if self.reject:
            return "554 5.7.1 Message rejected by policy"
        if self.data_commands <= self.transient:
            return "451 4.3.0 Temporary failure, try again later"
        self.accepted += 1
        queue_id = f"Q{self.accepted:06d}"
        if self.save:
            raw = envelope.original_content or envelope.content
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            login = getattr(session.auth_data, "login", None)
            record = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "tls": self.implicit_tls or session.ssl is not None,
                "authenticated": bool(session.authenticated),
                "login": login.decode() if isinstance(login, bytes) else None,
                "headers": {k: str(v) for k, v in msg.items()},
                "body": msg.get_content() if not msg.is_multipart() else None,
                "raw": raw.decode("utf-8", errors="replace"),
            }
            path = os.path.join(self.out, f"{self.accepted:06d}.json")
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                json.dump(record, f, ensure_ascii=False)
            os.replace(path + ".tmp", path)
        if self.slow_reply and self.slow_reply[0] == self.data_commands:
            await asyncio.sleep(self.slow_reply[1] / 1000)
        return f"250 2.0.0 Ok: queued as {queue_id}"


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--auth", nargs=2, metavar=("USER", "PASSWORD"))
    p.add_argument("--transient", type=int, default=0)
    p.add_argument("--reject", action="store_true")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--slow-reply", nargs=2, type=int, metavar=("N", "MS"))
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    handler = Handler(
        args.out,
        args.transient,
        args.reject,
        not args.no_save,
        bool(args.implicit_tls),
        args.slow_reply,
    )
    kwargs = {"hostname": "mail.test", "enable_SMTPUTF8": True}
    if args.starttls:
        kwargs["tls_context"] = tls_context(*args.starttls)
    if args.auth:
        kwargs["authenticator"] = Authenticator(*args.auth)
        kwargs["auth_required"] = True
        # With STARTTLS offered, AUTH waits for it (as real relays do). Implicit TLS is TLS
        # already (aiosmtpd only tracks STARTTLS), and a plain loopback test server has no TLS.
        kwargs["auth_require_tls"] = bool(args.starttls)

    loop = asyncio.get_running_loop()
    server_ssl = tls_context(*args.implicit_tls) if args.implicit_tls else None
    server = await loop.create_server(
        lambda: SMTP(handler, **kwargs), host="127.0.0.1", port=0, ssl=server_ssl
    )
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)

    # Stop when the parent closes our stdin (or dies): no orphaned servers.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
