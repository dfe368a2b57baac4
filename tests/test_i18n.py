"""Localization: visible text in templates is marked for translation, and the wiring works.

English stays the only language offered (settings.LANGUAGES); these tests switch a second one
on with a throwaway catalogue to prove that a translation would reach the pages.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import get_template
from django.urls import reverse
from django.utils import translation

ROOT = Path(settings.BASE_DIR)
TEMPLATE_FILES = sorted(
    p for p in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")]
    if ".venv" not in p.parts and "node_modules" not in p.parts
)
# Text that is not language: the product's name, a hash name, the token prefix placeholder.
ALLOWED = {"LLM Platform", "sha256", "llmp_…"}

_BLOCKTRANS = re.compile(r"{%\s*blocktrans(?:late)?\b.*?%}.*?{%\s*endblocktrans(?:late)?\s*%}", re.S)
_COMMENT = re.compile(r"{#.*?#}|{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", re.S)
_SCRIPT_STYLE = re.compile(r"<(script|style|pre|code)\b[^>]*>.*?</\1>", re.S | re.I)
_TAG = re.compile(r"{%.*?%}|{{.*?}}", re.S)
_ATTR = re.compile(r"""\b(aria-label|placeholder|title|alt)="([^"]*)\"""")


def untranslated_text(source: str) -> list[str]:
    """Words a user would read that are not inside a translate/blocktranslate tag."""
    text = _COMMENT.sub(" ", source)
    text = _BLOCKTRANS.sub(" ", text)
    text = _SCRIPT_STYLE.sub(" ", text)
    found = [value for _, value in _ATTR.findall(text)
             if value not in ALLOWED and re.search(r"[A-Za-z]{2,}", _TAG.sub(" ", value))]
    text = _TAG.sub(" ", text)
    text = re.sub(r"<[^>]*>", " ", text)  # markup and its attributes
    for allowed in ALLOWED:
        text = text.replace(allowed, " ")
    found += [chunk.strip() for chunk in re.split(r"\s{2,}|\n", text) if re.search(r"[A-Za-z]{2,}", chunk)]
    return found


def test_the_checker_finds_untranslated_text():
    # The guard below is only worth something if it catches the mistakes it is meant to catch.
    assert untranslated_text('<h1>Notes</h1><p title="Help">{% translate "Fine" %}</p>') == ["Help", "Notes"]
    assert untranslated_text('{% load i18n %}<h1>{% translate "Notes" %}</h1>{{ note.body }}') == []
    assert untranslated_text("{% blocktranslate %}Hi {{ name }}{% endblocktranslate %}<code>manage.py</code>") == []


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_template_text_is_marked_for_translation(path):
    source = path.read_text()
    assert not untranslated_text(source), f"wrap in {{% translate %}} / {{% blocktranslate %}}: {untranslated_text(source)}"
    if "{% translate" in source or "{% blocktranslate" in source:
        assert re.search(r"{%\s*load\s[^%]*\bi18n\b", source), "uses translate tags without {% load i18n %}"


def test_every_template_compiles():
    names = []
    for p in TEMPLATE_FILES:
        parts = p.relative_to(ROOT).parts
        names.append("/".join(parts[parts.index("templates") + 1:]))
    assert len(names) > 50
    for name in names:
        get_template(name)  # a broken {% blocktranslate %} raises TemplateSyntaxError here


@pytest.fixture
def french(settings, tmp_path):
    """A three-string French catalogue, compiled with GNU gettext's msgfmt."""
    if not shutil.which("msgfmt"):
        pytest.skip("GNU gettext is not installed (apt-get install gettext): compilemessages needs msgfmt")
    messages = tmp_path / "fr" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    (messages / "django.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n\n'
        'msgid "Log in"\nmsgstr "Se connecter"\n\n'
        'msgid "Username"\nmsgstr "Nom d’utilisateur"\n\n'
        'msgid "Note saved."\nmsgstr "Note enregistrée."\n'
    )
    # msgfmt is what compilemessages runs; called directly so the repository's own locale/ is not compiled.
    subprocess.run(["msgfmt", "--check-format", "-o", str(messages / "django.mo"), str(messages / "django.po")], check=True)
    settings.LOCALE_PATHS = [tmp_path]
    settings.LANGUAGES = [("en", "English"), ("fr", "French")]
    yield tmp_path
    # LocaleMiddleware activates the request's language for the thread and never resets it: without
    # this, later tests in this thread would run in French (Django's own catalogue has it).
    translation.deactivate()


@pytest.mark.django_db
def test_a_translation_reaches_the_page_through_accept_language(client, french):
    english = client.get(reverse("login"))
    assert b"<h1>Log in</h1>" in english.content and b'<button type="submit">Log in</button>' in english.content

    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="fr")
    body = page.content.decode()
    assert "<h1>Se connecter</h1>" in body and '<label for="id_username">Nom d’utilisateur</label>' in body
    assert "Log in" not in body
    assert "Skip to content" in body  # a string the catalogue lacks falls back to English


@pytest.mark.django_db
def test_view_messages_are_translated_too(owner_client, french):
    response = owner_client.post(reverse("notes:create"), {"body": "A note"}, HTTP_ACCEPT_LANGUAGE="fr", follow=True)
    assert "Note enregistrée." in response.content.decode()


def test_the_sample_catalogue_is_valid_gettext():
    po = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    text = po.read_text()
    for msgid in ("Log in", "Username", "Notes", "Segmentation run <code>%(id)s</code>"):
        assert f'msgid "{msgid}"' in text, f"{msgid!r} missing: rerun `make messages`"
    if shutil.which("msgfmt"):
        subprocess.run(["msgfmt", "--check-format", "-o", "/dev/null", str(po)], check=True)


PAGES = [
    ("home", {}), ("accounts:tokens", {}), ("notes:list", {}), ("notes:create", {}), ("artifacts:index", {}),
    ("artifacts:analytics", {}), ("artifacts:keys", {}), ("artifacts:webhooks", {}), ("products:list", {}),
    ("products:wizard", {}), ("products:bulk", {}), ("segmentation:index", {}), ("segmentation:new", {}),
    ("codegen:index", {}), ("llm:calls", {}), ("llm:providers", {}), ("llm:dashboard", {}), ("llm:prompt", {}),
    ("llm:manual-list", {}), ("llm:images", {}),
]


@pytest.mark.django_db
def test_the_main_pages_render_in_english(owner_client, owner):
    from notes.models import Note

    note = Note.objects.create(owner=owner, body="Body", page_url="https://example.com/a")
    for name, kwargs in [*PAGES, ("notes:detail", {"pk": note.pk}), ("notes:edit", {"pk": note.pk}),
                         ("notes:delete", {"pk": note.pk})]:
        response = owner_client.get(reverse(name, kwargs=kwargs))
        assert response.status_code == 200, name
        assert b'{% translate' not in response.content and b"{% blocktranslate" not in response.content, name
    assert b"Note</h2>" in owner_client.get(reverse("notes:detail", args=[note.pk])).content
