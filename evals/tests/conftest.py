import pytest


@pytest.fixture
def demo_catalog(db):
    from django.core.cache import cache

    from products.demo import seed_catalog

    cache.clear()  # the catalog outline is cached
    seed_catalog()
    yield
    cache.clear()


@pytest.fixture
def identify_dataset(demo_catalog):
    from evals.promotion import seed_datasets

    seed_datasets()
    from evals.models import Dataset

    return Dataset.objects.get(name="products.identify_category")
