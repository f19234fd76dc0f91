"""Delivering the digest: e-mail (SMTP), Telegram (Bot API ``sendMessage``) and a webhook (JSON built from a
template, so a Zalo OA, a chat bridge or a ticketing system gets the shape it wants).

Every failure is a :class:`DeliveryError` with one line naming the channel; secrets (the SMTP password, the
bot token) never appear in it.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import requests

#: the webhook's JSON when no template is given: "${subject}", "${text}" and "${digest}" are replaced
DEFAULT_WEBHOOK_TEMPLATE: dict[str, Any] = {"subject": "${subject}", "text": "${text}", "digest": "${digest}"}


class DeliveryError(Exception):
    pass


def send_email(
    server: str,
    sender: str,
    recipients: list[str],
    subject: str,
    text: str,
    *,
    username: str | None = None,
    password: str | None = None,
    starttls: bool | None = None,
    timeout: float = 30.0,
) -> None:
    """Send ``text`` (UTF-8 plain text) through ``server`` (host:port); STARTTLS when the server offers it
    and ``starttls`` is not False (required when True)."""
    host, _, port = server.rpartition(":")
    if not host or not port.isdigit():
        raise DeliveryError(f"e-mail: --smtp.server must be host:port, got {server!r}")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(text)
    try:
        with smtplib.SMTP(host, int(port), timeout=timeout) as smtp:
            smtp.ehlo()
            if starttls is not False and smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            elif starttls:
                raise DeliveryError(f"e-mail: {server} does not offer STARTTLS (--smtp.starttls)")
            if username:
                smtp.login(username, password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        reason = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc, smtplib.SMTPResponseException)
            else exc
        )
        raise DeliveryError(f"e-mail via {server}: {reason}") from None


def send_telegram(api_url: str, token: str, chat_id: str, text: str, timeout: float = 30.0) -> None:
    """Telegram's Bot API: POST {api_url}/bot<token>/sendMessage (the token stays out of every message)."""
    url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
    try:
        resp = requests.post(url, json={"chat_id": chat_id, "text": text}, timeout=timeout)
        ok = resp.status_code == 200 and resp.json().get("ok") is True
    except (requests.RequestException, ValueError) as exc:
        raise DeliveryError(f"Telegram at {api_url}: {type(exc).__name__}") from None
    if not ok:
        raise DeliveryError(f"Telegram at {api_url} answered HTTP {resp.status_code}: {resp.text[:200]}")


def webhook_body(template: Any, subject: str, text: str, digest: dict[str, Any]) -> Any:
    """The template with every string ``"${digest}"`` replaced by the digest document, and ``${subject}`` /
    ``${text}`` replaced inside strings."""
    if isinstance(template, dict):
        return {k: webhook_body(v, subject, text, digest) for k, v in template.items()}
    if isinstance(template, list):
        return [webhook_body(v, subject, text, digest) for v in template]
    if isinstance(template, str):
        if template == "${digest}":
            return digest
        return template.replace("${subject}", subject).replace("${text}", text)
    return template


def load_template(path: str | None) -> Any:
    if not path:
        return DEFAULT_WEBHOOK_TEMPLATE
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeliveryError(f"--webhook.template {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise DeliveryError(f"--webhook.template {path}: not JSON: {exc}") from None


def send_webhook(url: str, body: Any, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
    try:
        resp = requests.post(url, json=body, headers=headers or {}, timeout=timeout)
    except requests.RequestException as exc:
        raise DeliveryError(f"webhook {url.split('?')[0]}: {type(exc).__name__}") from None
    if not 200 <= resp.status_code < 300:
        raise DeliveryError(f"webhook {url.split('?')[0]} answered HTTP {resp.status_code}")
