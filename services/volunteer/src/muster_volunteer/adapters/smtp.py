"""Email over SMTP (aiosmtplib): a multipart message, plain text and HTML, whose
`Message-ID` is the delivery's id, so a resend after a crash is recognisable."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from muster_volunteer.application.email import Mailer, MailError
from muster_volunteer.domain.email import Email


class SmtpMailer(Mailer):
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str = "",
        password: str = "",
        start_tls: bool | None = None,
        timeout_seconds: float = 30.0,
        message_domain: str = "muster.local",
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username or None
        self._password = password or None
        self._start_tls = start_tls
        self._timeout = timeout_seconds
        self._domain = message_domain

    async def send(self, to: str, email: Email, message_id: str) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = email.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<{message_id}@{self._domain}>"
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._start_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            raise MailError(f"recipient refused: {refused}", permanent=True) from refused
        except aiosmtplib.SMTPResponseException as answered:
            # 5xx: the server will not take it, however often it is tried.
            raise MailError(str(answered), permanent=answered.code >= 500) from answered
        except (aiosmtplib.SMTPException, OSError) as failed:
            raise MailError(f"{type(failed).__name__}: {failed}") from failed
