"""Delivery channels: webhook (JSON POST, e.g. a chat robot), e-mail (SMTP + STARTTLS), log.

Each raises DeliveryError when the channel did not take the message; the outbox then retries with
backoff. URLs with tokens and SMTP credentials come only from the environment variables a channel names.
Every message carries its idempotency key (webhook header and body, e-mail Message-ID) so a receiver can
discard the rare duplicate of a sender killed between sending and recording the delivery.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
from email.message import EmailMessage
from hashlib import sha256
from urllib.parse import quote

import requests

from orchestration.monitoring.config import Channel
from orchestration.monitoring.templates import Message
from orchestration.secrets import redact

log = logging.getLogger("service_commitments.alerts")


class DeliveryError(RuntimeError):
    pass


def _env(name: str | None, what: str, required: bool = True) -> str | None:
    value = os.environ.get(name) if name else None
    if required and not value:
        raise DeliveryError(f"{what}: environment variable {name} is not set")
    return value or None


def send_webhook(channel: Channel, message: Message, timeout: float) -> None:
    url = _env(channel.url_env, "webhook URL")
    if channel.payload == "robot":  # WeCom / DingTalk / Feishu-style text robot
        body = {"msgtype": "text", "text": {"content": f"{message.subject}\n{message.body}"}}
    else:
        body = {"idempotency_key": message.idempotency_key, "subject": message.subject, "text": message.body,
                "alerts": message.alerts}  # fmt: skip
    try:
        # A header is Latin-1: a key naming a department (a monthly report) travels percent-encoded.
        key = quote(message.idempotency_key, safe="|:,/-_.")
        response = requests.post(url, json=body, timeout=timeout, headers={"Idempotency-Key": key})
    except requests.RequestException as exc:
        # The URL holds a token: the message is masked, and the original (with the URL) is not chained.
        raise DeliveryError(f"webhook unreachable ({type(exc).__name__}: {redact(exc)})") from None
    if not response.ok:
        raise DeliveryError(f"webhook answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        return
    # Chat robots answer 200 with an error code when they refuse a message.
    code = answer.get("errcode", 0) if isinstance(answer, dict) else 0
    if code not in (0, "0", None):
        refused = f"webhook refused the message: errcode {code} {answer.get('errmsg', '')}".strip()
        raise DeliveryError(redact(refused))


def send_email(channel: Channel, message: Message, timeout: float) -> None:
    host = _env(channel.smtp_host_env, "SMTP host")
    port = int(_env(channel.smtp_port_env, "SMTP port", required=False) or 587)
    user = _env(channel.username_env, "SMTP user", required=False)
    password = _env(channel.password_env, "SMTP password", required=bool(user and channel.password_env))
    mail = EmailMessage()
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.recipients)
    mail["Subject"] = message.subject
    mail["Message-ID"] = f"<{sha256(message.idempotency_key.encode()).hexdigest()[:32]}@service-commitments>"
    mail.set_content(message.body)
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.ehlo()
            if channel.starttls:
                context = ssl.create_default_context(cafile=_env(channel.ca_file_env, "CA file", required=False))
                smtp.starttls(context=context)
                smtp.ehlo()
            if user:
                smtp.login(user, password or "")
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(redact(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}")) from None


def send_log(channel: Channel, message: Message, timeout: float) -> None:
    log.warning("%s\n%s", message.subject, message.body)
    path = _env(channel.path_env, "log file", required=False)
    if path:
        record = {"idempotency_key": message.idempotency_key, "subject": message.subject, "alerts": message.alerts}
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


SENDERS = {"webhook": send_webhook, "email": send_email, "log": send_log}


def send(channel: Channel, message: Message, timeout: float) -> None:
    SENDERS[channel.type](channel, message, timeout)
