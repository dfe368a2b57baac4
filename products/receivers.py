"""Signal receivers, connected in ProductsConfig.ready()."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from llm.signals import manual_answer_accepted

from .models import AttributeDefinition, Category, Subcategory


@receiver(post_save, sender=Category, dispatch_uid="products.catalog_changed.category.save")
@receiver(post_delete, sender=Category, dispatch_uid="products.catalog_changed.category.delete")
@receiver(post_save, sender=Subcategory, dispatch_uid="products.catalog_changed.subcategory.save")
@receiver(post_delete, sender=Subcategory, dispatch_uid="products.catalog_changed.subcategory.delete")
@receiver(post_save, sender=AttributeDefinition, dispatch_uid="products.catalog_changed.attribute.save")
@receiver(post_delete, sender=AttributeDefinition, dispatch_uid="products.catalog_changed.attribute.delete")
def _catalog_changed(sender, **kwargs):
    from . import catalog

    catalog.invalidate()


@receiver(manual_answer_accepted, dispatch_uid="products.resume_bulk_items")
def _resume_bulk_items(sender, query, **kwargs):
    from .bulk import resume_items_waiting_on

    resume_items_waiting_on(query)
