"""Saving: the reviewed result becomes a Product."""

from __future__ import annotations

from ..models import Product, Subcategory


def save_product(
    *, subcategory_id: int, title: str, description: str, bullet_points: list[str], search_keywords: list[str],
    attributes: dict,
) -> Product:
    """Create a generated Product; ``full_clean`` rejects invalid attributes (ValidationError)."""
    subcategory = Subcategory.objects.select_related("category").get(pk=subcategory_id)
    product = Product(
        title=title.strip(),
        description=description.strip(),
        bullet_points=[b for b in bullet_points if b.strip()],
        search_keywords=[k for k in search_keywords if k.strip()],
        category=subcategory.category,
        subcategory=subcategory,
        attributes=attributes,
        source=Product.Source.GENERATED,
    )
    product.full_clean()
    product.save()
    return product
