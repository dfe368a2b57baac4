"""Log lines that carry the request id, and a formatter writing one JSON object per line.

Wired in ``LOGGING`` (config/settings): ``RequestIdFilter`` on the handler, so every record that
reaches it, whichever logger it came from, gets ``request_id``, ``task_id`` and ``task_name``;
``JsonFormatter`` when ``LOG_FORMAT=json``. Imports nothing from Django or the apps: logging is
configured before the apps are loaded.
"""

import json
import logging
import re
from datetime import datetime, timezone

from .context import current_request_id, current_task

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is kept.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_OWN_ATTRS = frozenset({"request_id", "task_id", "task_name", "request_tag"})

# Secrets must never reach a log line, even through an ``extra`` or an exception message that
# quotes a header or a URL. Keys are dropped by name; values are scrubbed by shape.
# Whole names or their last part ("access_token", "x-api-key"), so "input_tokens" or "cache_key" stay.
_SECRET_KEY_NAMES = re.compile(
    r"(?:^|[_-])(?:authorization|cookie|password|passwd|secret|secret[_-]?key|private[_-]?key|token|api[_-]?key)$",
    re.IGNORECASE,
)
_SECRET_VALUES = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"(?i)((?:x-api-key|x-goog-api-key|api[_-]?key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&]{8,}"),
     r"\1[redacted]"),
    (re.compile(r"([?&](?:key|api_key|token|access_token)=)[^&\s\"']+"), r"\1[redacted]"),
    (re.compile(r"\b(sk-(?:ant-|proj-)?)[A-Za-z0-9_-]{8,}"), r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_VALUES:
        text = pattern.sub(replacement, text)
    return text


def _clean(key: str, value):
    """An ``extra`` value as logged: secret-named keys dropped, strings scrubbed, dicts walked."""
    if _SECRET_KEY_NAMES.search(str(key)):
        return "[redacted]"
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _clean(k, v) for k, v in value.items()}
    return value


class RequestIdFilter(logging.Filter):
    """Stamp the current request id and Celery task on each record (empty strings outside them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs "django.request" lines (404, 500) after the middleware has returned: those
        # records carry the request itself, which carries its id.
        record.request_id = current_request_id() or getattr(getattr(record, "request", None), "request_id", "")
        record.task_id, record.task_name = current_task()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, task, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        task_id, task_name = getattr(record, "task_id", ""), getattr(record, "task_name", "")
        if not task_id and not hasattr(record, "task_id"):  # formatter used without the filter
            task_id, task_name = current_task()
        if task_id:
            entry["task_id"], entry["task_name"] = task_id, task_name
        for key, value in vars(record).items():
            if key in _RECORD_ATTRS or key in _OWN_ATTRS or key.startswith("_") or key in entry:
                continue
            entry[key] = _clean(key, value)
        if record.exc_info:
            entry["exc_info"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc_info"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The plain development format; ``%(request_tag)s`` is " [<request id>]" when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or current_request_id()
        record.request_tag = f" [{request_id}]" if request_id else ""
        return redact(super().format(record))
