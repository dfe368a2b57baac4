"""The wizard in Chromium: forward, back to another subcategory, forward again, save."""

import re

import pytest
from playwright.sync_api import expect

from conftest import login
from products.models import Product

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_walk_the_wizard_forward_back_and_forward_again_then_save(page, owner, smart_fake, catalog_ready):
    dimmers, knives = catalog_ready["dimmers"], catalog_ready["knives"]
    smart_fake.choice = {"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.86,
                         "reason": "It dims wall lights."}
    login(page, "owner", "owner-pass-123")
    page.goto("/products/")
    page.get_by_role("link", name="Generate a product").click()
    page.wait_for_load_state("load")  # htmx (a deferred script) has the page before its forms are used

    # Step 1
    expect(page.locator("#step-heading")).to_be_focused()
    page.get_by_label("Product information").fill("Lumora Glide dimmer, 600 W, Wi-Fi, LED and halogen. Model LG-600.")
    page.get_by_label("LLM provider").select_option("openai")
    page.get_by_label("Model").fill("gpt-4o-mini")
    page.get_by_role("button", name="Identify the category").click()

    # Step 2: the suggestion, the progress indicator, the debug panel
    expect(page.locator("#step-heading")).to_have_text("Step 2: Category")
    expect(page.locator("#step-heading")).to_be_focused()
    expect(page.locator('.wizard-steps li[aria-current="step"]')).to_contain_text("Category")
    expect(page.locator("#suggestion")).to_contain_text("Why: It dims wall lights.")
    page.get_by_text("Debug: model calls of this step (1)").click()
    expect(page.locator("details.debug")).to_contain_text("Lumora Glide dimmer")
    expect(page.locator("details.debug a[href^='/llm/calls/']")).to_have_count(1)
    page.get_by_role("button", name="Accept Dimmer Switches").click()

    # Step 3: the model's values; the user edits one
    expect(page.locator("#step-heading")).to_have_text("Step 3: Attributes")
    expect(page.get_by_label("Model number")).to_have_value("LG-600")
    page.get_by_label("Max load (W)").fill("700")
    page.get_by_role("button", name="Continue to the content").click()

    # Step 4: edit the title
    expect(page.locator("#step-heading")).to_have_text("Step 4: Content")
    expect(page.get_by_label("Title")).to_have_value("Lumora Glide 600 W Smart Dimmer Switch, Wi-Fi")
    page.get_by_label("Title").fill("Glide Wall Dimmer by Lumora")
    page.get_by_role("button", name="Keep my edits").click()
    expect(page.get_by_text("Your edits are kept.")).to_be_visible()

    # Back to step 2 with the keyboard, pick another subcategory
    progress = page.get_by_role("navigation", name="Progress")
    progress.get_by_role("link", name=re.compile("Category")).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#step-heading")).to_have_text("Step 2: Category")
    smart_fake.attributes = {"blade_length": 8, "style": "Gyuto"}
    page.get_by_label("Or pick another subcategory").select_option(str(knives.pk))
    page.get_by_role("button", name="Use this subcategory").click()

    # Forward again: the knife's attributes; the edited title is still there
    expect(page.locator("#step-heading")).to_have_text("Step 3: Attributes")
    expect(page.get_by_label("Blade length (in)")).to_have_value("8")
    expect(page.get_by_label("Max load (W)")).to_have_count(0)
    page.get_by_role("button", name="Continue to the content").click()
    expect(page.get_by_label("Title")).to_have_value("Glide Wall Dimmer by Lumora")
    page.get_by_role("button", name="Save product").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Glide Wall Dimmer by Lumora")
    product = Product.objects.get(source="generated")
    assert product.subcategory == knives and product.attributes == {"Blade length": 8, "Style": "Gyuto"}
    assert smart_fake.seen == ["CategoryChoice", "ProductAttributes", "ProductContent", "ProductAttributes"]
