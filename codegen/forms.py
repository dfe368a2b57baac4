from django import forms
from django.utils.translation import gettext_lazy as _

from llm.models import LLMProvider

from . import conf
from .mockups import MockupError, validate_mockup


class RunForm(forms.Form):
    name = forms.CharField(label=_("Project name"), max_length=100)
    description = forms.CharField(
        label=_("Description"), max_length=20_000, widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("What the application does: its users, pages, data."),
    )
    mockup = forms.FileField(
        label=_("UI mockup (optional)"), required=False,
        help_text=_("PNG, JPEG or WebP; sent to a vision-capable model."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    stack = forms.CharField(label=_("Target stack"), max_length=300, required=False)
    provider = forms.ModelChoiceField(
        queryset=LLMProvider.objects.filter(enabled=True), required=False, empty_label=_("Default provider"),
        to_field_name="name",
    )
    model = forms.CharField(label=_("Model"), max_length=100, required=False,
                            help_text=_("Leave blank for the provider's default model."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stack"].initial = conf.get("DEFAULT_STACK")
        self.mockup_bytes: bytes | None = None
        self.mockup_media_type = ""

    def clean_mockup(self):
        upload = self.cleaned_data.get("mockup")
        if not upload:
            return None
        limit = conf.get("MAX_MOCKUP_BYTES")
        if upload.size > limit:  # refuse before reading it into memory
            raise forms.ValidationError(_("The mockup is %(size)s KB; the limit is %(limit)s KB.") % {"size": upload.size // 1024, "limit": limit // 1024})
        data = upload.read()
        try:
            self.mockup_media_type = validate_mockup(data)
        except MockupError as exc:
            raise forms.ValidationError(str(exc)) from None
        self.mockup_bytes = data
        return upload

    def clean_provider(self):
        provider = self.cleaned_data.get("provider")
        if provider is not None and provider.configuration_problem():
            raise forms.ValidationError(provider.configuration_problem())
        return provider
