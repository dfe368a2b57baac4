from django import forms
from django.utils.translation import gettext_lazy as _

from llm.models import LLMProvider
from notes.models import Note

from .models import ArtifactType, GenerationMode, UserApiKey


class GenerateForm(forms.Form):
    artifact_type = forms.ChoiceField(label=_("Artifact type"), choices=ArtifactType.choices, initial=ArtifactType.SUMMARY)
    user_description = forms.CharField(
        label=_("Description"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Optional: what you want (required for “something else”)."),
    )
    generation_mode = forms.ChoiceField(
        label=_("Generation mode"), choices=GenerationMode.choices, initial=GenerationMode.APP_KEY, widget=forms.RadioSelect,
    )
    provider = forms.ChoiceField(label=_("Provider of your key"), required=False, choices=())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        providers = list(UserApiKey.objects.for_user(user).values_list("provider", flat=True))
        self.fields["provider"].choices = [("", "—")] + [(p, p) for p in providers]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("artifact_type") == ArtifactType.OTHER and not (cleaned.get("user_description") or "").strip():
            self.add_error("user_description", _("Describe what you want when you choose “something else”."))
        return cleaned

    def pipeline_args(self) -> dict:
        d = self.cleaned_data
        return {"artifact_type": d["artifact_type"], "description": d["user_description"],
                "mode": d["generation_mode"], "provider": d.get("provider") or ""}


class BatchForm(forms.Form):
    notes = forms.ModelMultipleChoiceField(queryset=Note.objects.none(), widget=forms.CheckboxSelectMultiple,
                                           error_messages={"required": _("Choose at least one note.")})
    artifact_type = forms.ChoiceField(label=_("Artifact type"), choices=ArtifactType.choices)
    generation_mode = forms.ChoiceField(label=_("Generation mode"), initial=GenerationMode.APP_KEY, choices=[
        c for c in GenerationMode.choices if c[0] != GenerationMode.BROWSER])  # one note at a time, on its page
    user_description = forms.CharField(label=_("Description"), required=False, max_length=2000)
    delivery = forms.ChoiceField(
        label=_("Delivery"), required=False, initial="interactive",
        choices=[("interactive", _("Interactive (one call per note)")),
                 ("batch", _("Provider batch (half price, answers within 24 hours)"))],
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["notes"].queryset = Note.objects.for_user(user).defer("page_section_html", "page_metadata")

    def clean_notes(self):
        notes = self.cleaned_data["notes"]
        if len(notes) > 50:
            raise forms.ValidationError(_("At most 50 notes per batch."))
        return notes


class ApiKeyForm(forms.Form):
    provider = forms.ChoiceField(label=_("Provider"), choices=())
    api_key = forms.CharField(label=_("API key"), min_length=8, max_length=500,
                              widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [
            (p.name, p.label) for p in LLMProvider.objects.filter(enabled=True).exclude(kind=LLMProvider.Kind.MANUAL)
        ]


class WebhookForm(forms.Form):
    # A CharField, not a URLField: the URL is checked by webhooks.url_problem, the same check as
    # the API's (no scheme guessed, no stripping), so a URL the form takes the API takes too.
    url = forms.CharField(label=_("URL"), strip=False, widget=forms.TextInput(attrs={"maxlength": 2000}),
                          help_text=_("An https:// address on the public internet."))

    def clean_url(self):
        from .webhooks import url_problem

        url = self.cleaned_data["url"]
        problem = url_problem(url)
        if problem:
            raise forms.ValidationError(problem)
        return url


class EditForm(forms.Form):
    content = forms.CharField(label=_("Content"), widget=forms.Textarea(attrs={"rows": 20}))
