import json
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .text import extract_text


def site_from_url(url: str) -> str:
    """The host of ``url`` ("en.wikipedia.org"), or "" when it has none."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def safe_link(url: str) -> str:
    """``url`` if a browser may follow it as a link (http or https), else ""."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return ""
    return url if scheme in ("http", "https") else ""


class NoteQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(owner=user)

    def search(self, q: str):
        q = (q or "").strip()
        if not q:
            return self
        return self.filter(
            Q(page_title__icontains=q) | Q(body__icontains=q) | Q(highlighted_text__icontains=q) | Q(site__icontains=q)
        )


class Note(models.Model):
    """A note taken on a web page, with the page section it was taken on.

    ``page_section_html`` is untrusted HTML stored exactly as captured (pages can be
    megabytes); it is only ever shown as plain text (see ``page_section_text``).
    """

    # db_index=False: the (owner, …) indexes below serve the foreign key too.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notes", db_index=False
    )
    page_url = models.URLField(_("page URL"), max_length=2000, blank=True)
    site = models.CharField(max_length=255, blank=True, help_text=_("Host of the page; filled from the URL when blank."))
    page_title = models.CharField(max_length=500, blank=True)
    page_metadata = models.JSONField(default=dict, blank=True)
    page_section_html = models.TextField(_("page section HTML"), blank=True)
    highlighted_text = models.TextField(blank=True)
    body = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = NoteQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["owner", "-updated_at"], name="note_owner_updated_idx"),
            models.Index(fields=["owner", "site"], name="note_owner_site_idx"),
        ]

    def __str__(self) -> str:
        if self.page_title:
            return self.page_title
        text = (self.body or self.highlighted_text).strip()
        return text[:60] + ("…" if len(text) > 60 else "") if text else f"Note {self.pk}"

    def save(self, *args, **kwargs):
        if not self.site and self.page_url:
            self.site = site_from_url(self.page_url)[:255]
            if "update_fields" in kwargs and kwargs["update_fields"] is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "site"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("notes:detail", args=[self.pk])

    @property
    def page_link(self) -> str:
        return safe_link(self.page_url)

    def page_section_text(self, limit: int = 50_000) -> tuple[str, bool]:
        """The page section as plain text, at most ``limit`` characters, and whether it was cut
        (by ``limit`` or because only the first ``NOTES_SECTION_PARSE_MAX_CHARS`` of HTML are read)."""
        return extract_text(self.page_section_html, limit=limit, max_html=settings.NOTES_SECTION_PARSE_MAX_CHARS)

    @property
    def page_section_parse_cut(self) -> bool:
        """Whether the captured HTML is longer than the part that is ever parsed."""
        return len(self.page_section_html) > settings.NOTES_SECTION_PARSE_MAX_CHARS

    def metadata_items(self, limit: int = 50) -> list[tuple[str, str]]:
        """The page metadata as (key, text) pairs for display."""
        if not isinstance(self.page_metadata, dict):
            return [("metadata", json.dumps(self.page_metadata))]
        items = []
        for key, value in list(self.page_metadata.items())[:limit]:
            items.append((str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
        return items

    def related_notes(self):
        """The owner's other notes on the same page."""
        if not self.page_url:
            return Note.objects.none()
        return (
            Note.objects.for_user(self.owner_id)
            .filter(site=self.site, page_url=self.page_url)
            .exclude(pk=self.pk)
            .defer("page_section_html", "page_metadata")
        )
