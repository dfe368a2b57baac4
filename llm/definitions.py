"""Provider, model and budget definitions (and the admins' active prompt overrides), cached in each process.

Every ``complete()`` needs its provider row, its model row (with prices and limits) and the
budgets that apply; reading them from the database costs three queries per call. They change
rarely (an admin edit), so each process keeps them and checks one version key per call:

* a save or delete of an LLMProvider, LLMModel, Budget or PromptOverride (admin, ``ensure_defaults``, price
  sync) clears this process's copy at once and writes a new version to Redis (or, without
  Redis, to the shared Django cache) -- again after the transaction commits, so another
  process can't re-read the old rows in between and keep them;
* every other process compares that version with the one its copy was loaded under before
  using it, without a round trip: each process subscribes to the version's channel (Redis
  pub/sub), and a change publishes the new version there as well. Before using its copy a
  process reads whatever its subscription has received (a non-blocking poll of a socket it
  already holds: microseconds, not a GET), so a change another process committed and published
  before this call started is seen by it, exactly as the GET saw it. Whenever the subscription
  is (re)established -- at start, after Redis restarts or the connection drops, in a forked child
  -- the version is read once with a GET, so nothing published while it was away is missed; while
  there is no subscription every call GETs the version as before (about 0.1 ms). One check per
  ``complete()``: its lookups share one snapshot (``pinning``);
* ``QuerySet.update()`` and raw SQL send no signals: after such a write call ``forget()``
  (tests do, see the root conftest). As a safety net nothing is kept longer than
  ``MAX_AGE`` seconds.

Callers get fresh model instances on every lookup, so changing one never changes the cache.
If the version can't be read (Redis down), nothing is cached and every lookup reads the
database, as before; Redis is asked again after ``RETRY_AFTER`` seconds, so a dead Redis
doesn't add its connect timeout to every call.
"""

import functools
import os
import threading
import time
import uuid
from contextvars import ContextVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save

from .models import Budget, LLMModel, LLMProvider, PromptOverride

MAX_AGE = 30.0  # seconds; only matters for writes that bypass the signals
VERSION_KEY = "llm:definitions:{db}:version"  # per database: test and bench databases share the Redis
_UNAVAILABLE = object()
RETRY_AFTER = 5.0  # seconds
SUBSCRIBE_WAIT = 2.0  # seconds a new subscription waits for Redis to confirm it
RECHECK_EVERY = 5.0  # seconds between GETs of the version while subscribed (a silently dropped connection)
_down_until = 0.0

_PROVIDER_FIELDS = [f.attname for f in LLMProvider._meta.concrete_fields]
_MODEL_FIELDS = [f.attname for f in LLMModel._meta.concrete_fields]


class _Snapshot:
    def __init__(self, version):
        self.version = version
        self.loaded_at = time.monotonic()
        self.providers: dict[str, tuple] | None = None  # name -> field values
        self.models: dict[tuple[int, str], tuple] = {}  # (provider id, model name) -> field values
        self.budgets: list[Budget] | None = None  # every enabled budget
        self.overrides: dict[tuple[str, int], PromptOverride] | None = None  # active prompt overrides


_snapshot: _Snapshot | None = None
# Inside ``pinning`` (one complete() call) every lookup uses the snapshot checked at its start.
_pinned: ContextVar["_Snapshot | None"] = ContextVar("llm_definitions_pinned", default=None)
_lock = threading.Lock()
_redis_client = None


def _key() -> str:
    return VERSION_KEY.format(db=connection.settings_dict.get("NAME") or "default")


def _client():
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _redis_client


def _get_version():
    """The version from Redis (or the Django cache) with one round trip; _UNAVAILABLE when it can't be read."""
    global _down_until
    if time.monotonic() < _down_until:
        return _UNAVAILABLE
    try:
        if settings.REDIS_URL:
            return _client().get(_key())
        from django.core.cache import cache

        return cache.get(_key())
    except Exception:  # the cache is an optimisation: without it, read the database
        _down_until = time.monotonic() + RETRY_AFTER
        return _UNAVAILABLE


class _Subscription:
    """This process's subscription to the version channel, polled (never blocking) by ``_read_version``.

    ``version`` is what Redis holds, as far as the messages received so far tell; None until the
    subscription is confirmed and the version has been read once after it."""

    def __init__(self, key: str):
        self.key, self.pid, self.version = key, os.getpid(), None
        self.pubsub = _client().pubsub(ignore_subscribe_messages=False)
        self.pubsub.subscribe(key)
        self.first = True  # the first poll waits (briefly) for the subscription's confirmation
        self.checked_at = 0.0  # when the version was last read with a GET

    def poll(self):
        """Apply the messages received so far; returns the version, or None when it is not known."""
        connection = self.pubsub.connection
        if not connection.is_connected:  # dropped: what was published meanwhile is unknown until resubscribed
            self.first, self.version = True, None
        elif not self.first and self.version is not None and not connection.can_read(timeout=0):
            if time.monotonic() - self.checked_at < RECHECK_EVERY:
                return self.version  # nothing received since the last look (the usual case: one select())
            # Now and then a GET as well: a connection a middlebox dropped without a word delivers nothing.
            version = _get_version()
            if version is not _UNAVAILABLE:
                self.version, self.checked_at = version or b"", time.monotonic()
            return self.version
        while True:
            wait, self.first = (SUBSCRIBE_WAIT if self.first else 0.0), False
            message = self.pubsub.get_message(timeout=wait)
            if message is None:
                return self.version
            if message["type"] == "subscribe":  # (re)subscribed: what was published before is unknown
                version = _get_version()
                self.version = None if version is _UNAVAILABLE else (version or b"")
                self.checked_at = time.monotonic()
            elif message["type"] == "message":
                self.version = message["data"]

    def close(self) -> None:
        try:
            self.pubsub.close()
        except Exception:
            pass


_subscription: "_Subscription | None" = None
_subscription_down_until = 0.0
_poll_lock = threading.Lock()


def _read_version():
    """The version another process last published: from the subscription when it is up, else a GET."""
    global _subscription, _subscription_down_until
    if not settings.REDIS_URL or not getattr(settings, "LLM_DEFINITIONS_SUBSCRIBE", True):
        return _get_version()
    with _poll_lock:  # one thread polls the shared connection at a time
        sub, key = _subscription, _key()
        if sub is not None and (sub.pid != os.getpid() or sub.key != key):
            if sub.pid == os.getpid():
                sub.close()  # another database (tests): a new channel
            _subscription = sub = None  # a forked child must not read its parent's socket
        if sub is None and time.monotonic() >= _subscription_down_until:
            try:
                _subscription = sub = _Subscription(key)
            except Exception:
                _subscription_down_until = time.monotonic() + RETRY_AFTER
        if sub is not None:
            try:
                version = sub.poll()
                if version is not None:
                    return version or None
            except Exception:  # Redis went away: GET per call until the subscription is back
                sub.close()
                _subscription, _subscription_down_until = None, time.monotonic() + RETRY_AFTER
    return _get_version()


def _write_version() -> None:
    version = uuid.uuid4().hex.encode()
    try:
        if settings.REDIS_URL:
            pipe = _client().pipeline(transaction=True)  # the key first: a subscriber that reads it sees the new one
            pipe.set(_key(), version)
            pipe.publish(_key(), version)
            pipe.execute()
        else:
            from django.core.cache import cache

            cache.set(_key(), version, None)
    except Exception:  # other processes fall back to MAX_AGE
        pass


def current() -> _Snapshot | None:
    """This process's definitions, reloaded when another process changed them; None = don't cache."""
    global _snapshot
    pinned = _pinned.get()
    if pinned is not None:
        return pinned
    version = _read_version()
    if version is _UNAVAILABLE:
        return None
    snap = _snapshot
    if snap is None or snap.version != version or time.monotonic() - snap.loaded_at > MAX_AGE:
        with _lock:
            snap = _snapshot
            if snap is None or snap.version != version or time.monotonic() - snap.loaded_at > MAX_AGE:
                snap = _snapshot = _Snapshot(version)
    return snap


def pinning(func):
    """Run ``func`` with one snapshot for all its lookups: one version check per call, not three."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        token = _pinned.set(current())
        try:
            return func(*args, **kwargs)
        finally:
            _pinned.reset(token)

    return wrapper


def forget() -> None:
    """Drop this process's copy (after writes that send no signals, e.g. ``QuerySet.update()``)."""
    global _snapshot
    _snapshot = None


def changed() -> None:
    """Drop every process's copy: this one now, the others through the version key."""
    forget()
    _write_version()


def _changed_after_commit() -> None:
    changed()
    transaction.on_commit(changed)


def _on_change(sender, **kwargs):
    _changed_after_commit()


for _model in (LLMProvider, LLMModel, Budget, PromptOverride):
    post_save.connect(_on_change, sender=_model, dispatch_uid=f"llm.definitions.save.{_model.__name__}")
    post_delete.connect(_on_change, sender=_model, dispatch_uid=f"llm.definitions.delete.{_model.__name__}")


def _provider_from(values: tuple) -> LLMProvider:
    return LLMProvider.from_db("default", _PROVIDER_FIELDS, values)


def _values_of(obj, fields: list[str]) -> tuple:
    return tuple(getattr(obj, name) for name in fields)


def providers() -> list[LLMProvider] | None:
    """Every provider row (fresh instances), or None when caching is off."""
    snap = current()
    if snap is None:
        return None
    table = snap.providers
    if table is None:
        table = {p.name: _values_of(p, _PROVIDER_FIELDS) for p in LLMProvider.objects.all()}
        snap.providers = table
    return [_provider_from(v) for v in table.values()]


def provider_named(name: str) -> LLMProvider | None:
    """The provider called ``name``, from the cache when possible; None when there is none."""
    snap = current()
    if snap is None:
        return LLMProvider.objects.filter(name=name).first()
    if snap.providers is None:
        providers()
    values = snap.providers.get(name) if snap.providers is not None else None
    if values is None:  # created a moment ago in another process, or really unknown
        return LLMProvider.objects.filter(name=name).first()
    return _provider_from(values)


def model_named(provider: LLMProvider, name: str, create_defaults: dict) -> LLMModel:
    """``provider``'s model called ``name``; an unknown name gets a row (see resolve_model)."""
    snap = current()
    key = (provider.pk, name)
    values = snap.models.get(key) if snap is not None else None
    if values is None:
        found, _ = LLMModel.objects.get_or_create(provider=provider, name=name, defaults=create_defaults)
        if snap is not None:
            snap.models[key] = _values_of(found, _MODEL_FIELDS)
    else:
        found = LLMModel.from_db("default", _MODEL_FIELDS, values)
    found.provider = provider  # saves a query every time the price is read
    return found


def enabled_budgets() -> list[Budget] | None:
    """Every enabled budget (with its user), or None when caching is off. Treat as read-only."""
    snap = current()
    if snap is None:
        return None
    if snap.budgets is None:
        snap.budgets = list(Budget.objects.filter(enabled=True).select_related("user"))
    return snap.budgets


def prompt_override(name: str, version: int) -> PromptOverride | None:
    """The active admin override of template ``name`` version ``version`` (the newest revision)."""
    snap = current()
    if snap is None:
        return PromptOverride.objects.active_for(name, version)
    if snap.overrides is None:
        table: dict[tuple[str, int], PromptOverride] = {}
        for row in PromptOverride.objects.filter(active=True).order_by("name", "template_version", "-revision"):
            table.setdefault((row.name, row.template_version), row)
        snap.overrides = table
    return snap.overrides.get((name, version))
