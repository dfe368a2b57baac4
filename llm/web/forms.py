from django import forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ..models import LLMProvider


class PromptForm(forms.Form):
    """The playground: a file template, one of the user's own templates, or a prompt written here."""

    template = forms.ChoiceField(required=False, label=_("Template"))
    provider = forms.ModelChoiceField(queryset=LLMProvider.objects.filter(enabled=True), empty_label=None, label=_("Provider"))
    model_name = forms.CharField(
        label=_("Model"), required=False, max_length=100,
        help_text=_("Leave blank for the provider's default model."),
    )
    system_prompt = forms.CharField(label=_("System prompt (optional)"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    prompt = forms.CharField(label=_("Prompt"), required=False, widget=forms.Textarea(attrs={"rows": 8}),
                             help_text=_("Use {{ name }} for variables; they get a field each."))
    max_tokens = forms.IntegerField(label=_("Max tokens"), required=False, min_value=1, max_value=200_000)
    temperature = forms.FloatField(label=_("Temperature"), required=False, min_value=0, max_value=2)
    save_as = forms.CharField(label=_("Save as my template (optional)"), required=False, max_length=100,
                              help_text=_("A name to keep this prompt among your templates."))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        from ..models import UserPromptTemplate
        from ..prompts import load_all

        self.user = user
        # Choosing a template reloads its variable fields (htmx), without leaving the page.
        self.fields["template"].widget.attrs.update({
            "hx-get": reverse("llm:prompt"), "hx-target": "#variables", "hx-swap": "innerHTML",
            "hx-trigger": "change", "hx-include": "this",
        })
        self.file_templates = {t.key: t for t in load_all().values() if t.kind == "chat"}
        self.user_templates = {f"user:{t.pk}": t for t in UserPromptTemplate.objects.filter(owner=user)} if user else {}
        self.fields["template"].choices = (
            [("", _("None: write the prompt below"))]
            + [(_("Shipped templates"), [(k, f"{k} — {t.description}" if t.description else k) for k, t in sorted(self.file_templates.items())])]
            + ([(_("My templates"), [(k, t.name) for k, t in self.user_templates.items()])] if self.user_templates else [])
        )
        chosen = self.data.get("template") if self.is_bound else self.initial.get("template", "")
        self.variable_names = self._variables_of(chosen or "")
        for name in self.variable_names:
            self.fields[f"var_{name}"] = forms.CharField(label=name.replace("_", " ").capitalize(), max_length=5000)

    def _variables_of(self, key: str) -> list[str]:
        from ..prompts import used_variables

        if key in self.file_templates:
            return list(self.file_templates[key].variables)
        if key in self.user_templates:
            t = self.user_templates[key]
            return sorted(used_variables(t.system, t.user))
        if self.is_bound and not key:
            return sorted(used_variables(self.data.get("system_prompt", ""), self.data.get("prompt", "")))
        return []

    def clean(self):
        data = super().clean()
        name = data.get("model_name") or ""
        if "/" in name:  # "anthropic/claude-haiku-4-5" names the provider too, whichever one is selected
            from ..errors import LLMConfigurationError
            from ..providers import resolve_target

            try:
                named, model = resolve_target(None, name)
            except LLMConfigurationError:
                named = None
            if named is not None and named.enabled and model != name:
                data["provider"], data["model_name"] = named, model
        provider = data.get("provider")
        if provider is not None and provider.configuration_problem():
            raise forms.ValidationError(provider.configuration_problem())
        if not data.get("template") and not (data.get("prompt") or "").strip():
            self.add_error("prompt", _("Write a prompt or choose a template."))
        return data

    def rendered(self):
        """The filled prompt (a RenderedPrompt) for the chosen template or the text written here."""
        from ..prompts import render, render_text

        data = self.cleaned_data
        values = {name: data.get(f"var_{name}", "") for name in self.variable_names}
        key = data.get("template") or ""
        if key in self.file_templates:
            provider = data.get("provider")
            return render(self.file_templates[key], values, provider_kind=provider.kind if provider else "")
        if key in self.user_templates:
            t = self.user_templates[key]
            return render_text(t.system, t.user, values, name=t.name)
        return render_text(data.get("system_prompt", ""), data.get("prompt", ""), values)


class PasteForm(forms.Form):
    answer = forms.CharField(
        label=_("The model's answer"), widget=forms.Textarea(attrs={"rows": 12}),
        error_messages={"required": _("Paste the model's answer first: the answer field is empty.")},
    )
    model_name = forms.CharField(
        label=_("Which model answered?"), max_length=100, required=False,
        help_text=_("For the record, e.g. “ChatGPT gpt-4o” or “Claude Sonnet”. Copy/paste calls cost us nothing."),
    )


class QueryFilterForm(forms.Form):
    status = forms.ChoiceField(required=False)
    provider = forms.CharField(required=False, max_length=50)
    purpose = forms.CharField(required=False, max_length=100)
    run_id = forms.CharField(required=False, max_length=64, label=_("Run id"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from ..models import LLMQuery

        self.fields["status"].choices = [("", _("Any status"))] + list(LLMQuery.Status.choices)
