import pytest

from .fakes import make_products, responder


@pytest.fixture
def catalog(db):
    return make_products(100)


@pytest.fixture
def smart_fake(fake, providers):
    fake.set_default(responder)
    return fake
