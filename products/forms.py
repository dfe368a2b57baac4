from django import forms

from .models import Category, Product, Subcategory

MAX_BRAND_CHOICES = 1000


class ProductFilterForm(forms.Form):
    """The catalog list's search and filters (GET). Invalid values are ignored, not fatal."""

    q = forms.CharField(label="Search titles", required=False, widget=forms.TextInput(attrs={"type": "search"}))
    category = forms.ModelChoiceField(queryset=Category.objects.all(), required=False, empty_label="All categories")
    subcategory = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    brand = forms.ChoiceField(required=False)
    source = forms.ChoiceField(choices=[("", "All sources"), *Product.Source.choices], required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        groups: dict[str, list[tuple[int, str]]] = {}
        for sub in Subcategory.objects.select_related("category").order_by("category__name", "name"):
            groups.setdefault(sub.category.name, []).append((sub.pk, sub.name))
        self.fields["subcategory"].choices = [("", "All subcategories"), *groups.items()]
        brands = (
            Product.objects.exclude(brand="").order_by("brand").values_list("brand", flat=True).distinct()
        )[:MAX_BRAND_CHOICES]
        self.fields["brand"].choices = [("", "All brands"), *((b, b) for b in brands)]

    def filter(self, products):
        if not self.is_bound:
            return products
        self.is_valid()  # fills cleaned_data with the fields that are valid
        data = self.cleaned_data
        products = products.search(data.get("q", ""))
        if data.get("category"):
            products = products.filter(category=data["category"])
        if data.get("subcategory"):
            products = products.filter(subcategory_id=data["subcategory"])
        if data.get("brand"):
            products = products.filter(brand=data["brand"])
        if data.get("source"):
            products = products.filter(source=data["source"])
        return products
