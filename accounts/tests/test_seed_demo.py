from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from notes.models import Note
from products.models import AttributeDefinition, Category, Product, Subcategory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def counts() -> dict:
    return {
        "users": get_user_model().objects.count(),
        "notes": Note.objects.count(),
        "categories": Category.objects.count(),
        "subcategories": Subcategory.objects.count(),
        "attributes": AttributeDefinition.objects.count(),
        "products": Product.objects.count(),
    }


def test_it_creates_a_demo_superuser_and_prints_the_saved_password(var_dir):
    out = seed()
    password = (var_dir / "demo_password.txt").read_text().strip()
    user = get_user_model().objects.get(username="demo")
    assert user.is_staff and user.is_superuser
    assert user.check_password(password)
    assert f"Demo login: demo / {password}  at http://127.0.0.1:8000/" in out


def test_it_is_idempotent_and_reuses_the_password_file(var_dir):
    seed()
    first = counts()
    password = (var_dir / "demo_password.txt").read_text()
    out = seed()
    assert counts() == first
    assert (var_dir / "demo_password.txt").read_text() == password
    assert f"Demo login: demo / {password.strip()}" in out
    assert "0 sample notes created" in out
    assert "0 products created" in out


def test_it_seeds_related_notes_and_a_catalog_of_about_300_products():
    seed()
    user = get_user_model().objects.get(username="demo")
    notes = Note.objects.for_user(user)
    assert 6 <= notes.count() <= 8
    assert any(note.related_notes().exists() for note in notes)
    assert all(note.page_url and note.page_title and note.page_section_html and note.highlighted_text and note.body for note in notes)
    assert Category.objects.count() == 4
    assert Product.objects.filter(source="demo").count() == 300
    assert Product.objects.filter(external_id="DEMO-00001").exists()
    for subcategory in Subcategory.objects.all():
        types = set(subcategory.attribute_definitions.values_list("type", flat=True))
        assert 3 <= subcategory.attribute_definitions.count() <= 6
        assert len(types) >= 3


def test_every_demo_product_has_valid_attributes():
    seed()
    for product in Product.objects.select_related("subcategory").prefetch_related("subcategory__attribute_definitions"):
        stored = dict(product.attributes)
        product.full_clean()
        assert product.attributes == stored, product.title


def test_the_demo_catalog_is_the_same_every_time():
    seed()
    first = list(Product.objects.order_by("external_id").values_list("external_id", "title", "price"))
    Product.objects.all().delete()
    seed()
    assert list(Product.objects.order_by("external_id").values_list("external_id", "title", "price")) == first
    assert first[0][1].startswith(("Lumora", "Voltaro", "Brightwell", "Halden Electric"))


def test_it_resets_the_password_when_the_file_is_missing(var_dir):
    seed()
    old = (var_dir / "demo_password.txt").read_text().strip()
    (var_dir / "demo_password.txt").unlink()
    out = seed()
    new = (var_dir / "demo_password.txt").read_text().strip()
    assert new != old
    user = get_user_model().objects.get(username="demo")
    assert user.check_password(new) and not user.check_password(old)
    assert f"Demo login: demo / {new}" in out


def test_it_creates_the_default_llm_providers():
    from llm.models import LLMProvider

    seed()
    assert LLMProvider.objects.filter(name="manual").exists()
