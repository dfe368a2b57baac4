from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Category, Product, Subcategory

MAX_BRAND_CHOICES = 1000


class ProductFilterForm(forms.Form):
    """The catalog list's search and filters (GET). Invalid values are ignored, not fatal."""

    q = forms.CharField(label=_("Search titles"), required=False, widget=forms.TextInput(attrs={"type": "search"}))
    category = forms.ModelChoiceField(queryset=Category.objects.all(), required=False, empty_label=_("All categories"))
    subcategory = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    brand = forms.ChoiceField(required=False)
    source = forms.ChoiceField(choices=[("", _("All sources")), *Product.Source.choices], required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        groups: dict[str, list[tuple[int, str]]] = {}
        for sub in Subcategory.objects.select_related("category").order_by("category__name", "name"):
            groups.setdefault(sub.category.name, []).append((sub.pk, sub.name))
        self.fields["subcategory"].choices = [("", _("All subcategories")), *groups.items()]
        brands = (
            Product.objects.exclude(brand="").order_by("brand").values_list("brand", flat=True).distinct()
        )[:MAX_BRAND_CHOICES]
        self.fields["brand"].choices = [("", _("All brands")), *((b, b) for b in brands)]

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


# --- Generation wizard -----------------------------------------------------------------------


def provider_choices() -> list[tuple[str, str]]:
    from llm.models import LLMProvider

    return [("", _("Default provider"))] + [
        (p.name, p.display_name or p.name) for p in LLMProvider.objects.filter(enabled=True).order_by("name")
    ]


class RawInputForm(forms.Form):
    raw_input = forms.CharField(
        label=_("Product information"), widget=forms.Textarea(attrs={"rows": 10}), max_length=20_000,
        help_text=_("Paste a supplier description, a title, or any text about the product."),
    )
    provider = forms.ChoiceField(label=_("LLM provider"), required=False)
    model = forms.CharField(label=_("Model"), required=False, max_length=100, help_text=_("Blank: the provider's default model."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = provider_choices()

    def clean_raw_input(self):
        text = self.cleaned_data["raw_input"].replace("\x00", "").strip()
        if not text:
            raise forms.ValidationError(_("Paste some product information first."))
        return text


class SubcategoryChoiceForm(forms.Form):
    subcategory = forms.TypedChoiceField(label=_("Subcategory"), coerce=int)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        groups: dict[str, list[tuple[int, str]]] = {}
        for sub in Subcategory.objects.select_related("category").order_by("category__name", "name"):
            groups.setdefault(sub.category.name, []).append((sub.pk, sub.name))
        self.fields["subcategory"].choices = [("", _("Choose a subcategory")), *groups.items()]

    def clean_subcategory(self):
        value = self.cleaned_data["subcategory"]
        sub = Subcategory.objects.select_related("category").filter(pk=value).first()
        if sub is None:
            raise forms.ValidationError(_("That subcategory no longer exists."))
        return sub


def attribute_field_name(definition) -> str:
    return f"attr_{definition.pk}"


def attribute_field(definition) -> forms.Field:
    from .models import AttributeType

    label = f"{definition.name} ({definition.unit})" if definition.unit else definition.name
    if definition.type == AttributeType.BOOLEAN:
        return forms.ChoiceField(label=label, required=False, choices=[("", "—"), ("true", _("Yes")), ("false", _("No"))])
    if definition.type == AttributeType.ONE_OF:
        return forms.ChoiceField(label=label, required=False, choices=[("", "—")] + [(v, v) for v in definition.allowed_values])
    if definition.type == AttributeType.MANY_OF:
        return forms.MultipleChoiceField(
            label=label, required=False, choices=[(v, v) for v in definition.allowed_values],
            widget=forms.CheckboxSelectMultiple,
        )
    attrs = {"inputmode": "decimal"} if definition.type == AttributeType.NUMBER else {}
    return forms.CharField(label=label, required=False, max_length=1000, widget=forms.TextInput(attrs=attrs))


class AttributesForm(forms.Form):
    """One field per attribute of the session's subcategory; the domain check happens in pipeline."""

    def __init__(self, definitions, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.definitions = list(definitions)
        for definition in self.definitions:
            self.fields[attribute_field_name(definition)] = attribute_field(definition)

    def values_by_name(self) -> dict:
        return {d.name: self.cleaned_data.get(attribute_field_name(d)) for d in self.definitions
                if attribute_field_name(d) in self.cleaned_data}


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in (text or "").splitlines() if line.strip()]


class ContentForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=500)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 8}), required=False, max_length=20_000)
    bullet_points = forms.CharField(
        label=_("Bullet points"), widget=forms.Textarea(attrs={"rows": 6}), required=False, help_text=_("One per line.")
    )
    search_keywords = forms.CharField(
        label=_("Search keywords"), widget=forms.Textarea(attrs={"rows": 4}), required=False, help_text=_("One per line.")
    )

    def clean_bullet_points(self):
        return _lines(self.cleaned_data["bullet_points"])

    def clean_search_keywords(self):
        return _lines(self.cleaned_data["search_keywords"])

    def clean_title(self):
        return " ".join(self.cleaned_data["title"].split())

    def clean_description(self):
        return self.cleaned_data["description"].replace("\r\n", "\n").strip()


class BulkUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file"), help_text=_("A header with a `text` column, or `title` and `description`."))
    provider = forms.ChoiceField(label=_("LLM provider"), required=False)
    model = forms.CharField(label=_("Model"), required=False, max_length=100)
    delivery = forms.ChoiceField(
        label=_("Delivery"), initial="interactive", required=False,
        choices=[("interactive", _("Interactive (one call at a time)")),
                 ("batch", _("Provider batch (half price, answers within 24 hours)"))],
        help_text=_("Batch sends every step of every product as provider batches; the copy/paste provider always runs interactively."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = provider_choices()
