import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

TOKEN_PREFIX = "llmp_"

# What a token may do. "capture" is the narrowest: it can only create notes (POST /api/notes/),
# so a token pasted into a browser extension cannot read or change anything else.
SCOPE_READ, SCOPE_WRITE, SCOPE_CAPTURE = "read", "write", "capture"
SCOPE_CHOICES = [
    (SCOPE_READ, _("read: list and fetch (GET)")),
    (SCOPE_WRITE, _("write: create, change and delete")),
    (SCOPE_CAPTURE, _("capture: create notes only")),
]
SCOPES = [name for name, _label in SCOPE_CHOICES]
# A required scope is satisfied by any of these granted scopes.
SATISFIED_BY = {SCOPE_READ: {SCOPE_READ}, SCOPE_WRITE: {SCOPE_WRITE}, SCOPE_CAPTURE: {SCOPE_CAPTURE, SCOPE_WRITE}}


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenRefused(Exception):
    """A Bearer token that cannot be used, with the HTTP status and a message saying what to do."""

    def __init__(self, status: int, message: str, counts_as_failure: bool = True):
        super().__init__(message)
        self.status = status
        self.message = message
        self.counts_as_failure = counts_as_failure  # a wrong credential (not merely a narrow scope)


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        )

    def for_user(self, user):
        return self.filter(user=user)


class ApiToken(models.Model):
    """A per-user token for scripts. Only its SHA-256 is stored; the raw value is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16, help_text="First characters of the token, to recognise it.")
    scopes = models.CharField(max_length=100, default="read write",
                              help_text="Space-separated: read, write, capture (create notes only).")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Blank: never expires.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split() if s in SCOPES]

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @classmethod
    def issue(cls, user, name: str, scopes=("read", "write"), expires_in_days: int | None = None) -> tuple["ApiToken", str]:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise ValueError(f"Token scopes must be among {', '.join(SCOPES)} (got {', '.join(unknown) or 'none'}).")
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        token = cls.objects.create(user=user, name=name, token_hash=hash_token(raw), prefix=raw[:12],
                                   scopes=" ".join(s for s in SCOPES if s in scopes), expires_at=expires_at)
        return token, raw

    @classmethod
    def verify(cls, raw: str, scope: str) -> "ApiToken":
        """The token for ``raw`` if it may be used for ``scope``; else :class:`TokenRefused` says why."""
        token = None
        if raw and raw.startswith(TOKEN_PREFIX):
            token = cls.objects.select_related("user").filter(token_hash=hash_token(raw)).first()
        if token is None:
            raise TokenRefused(401, "This API token is not valid: check that it was copied whole (tokens start "
                                    f"with {TOKEN_PREFIX}), or create one on your API tokens page.")
        if token.revoked_at is not None:
            raise TokenRefused(401, f"This API token ({token.prefix}…) was revoked on {token.revoked_at:%Y-%m-%d}: "
                                    "create a new one on your API tokens page.")
        if token.is_expired:
            raise TokenRefused(401, f"This API token ({token.prefix}…) expired on {token.expires_at:%Y-%m-%d %H:%M} "
                                    "UTC: create a new one on your API tokens page.")
        if not token.user.is_active:
            raise TokenRefused(401, "The account this API token belongs to is disabled.")
        if not SATISFIED_BY[scope] & set(token.scope_list):
            raise TokenRefused(403, f"This API token's scopes ({', '.join(token.scope_list) or 'none'}) do not allow "
                                    f"this request: it needs the '{scope}' scope. Create a token with that scope.",
                               counts_as_failure=False)
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
        return token

    @classmethod
    def authenticate(cls, raw: str, scope: str = SCOPE_READ):
        """The token's user, or None (for callers that only need yes or no)."""
        try:
            return cls.verify(raw, scope).user
        except TokenRefused:
            return None

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
