from django import forms

from .models import LLMProvider


class PromptForm(forms.Form):
    provider = forms.ModelChoiceField(queryset=LLMProvider.objects.filter(enabled=True), empty_label=None)
    model_name = forms.CharField(
        label="Model", required=False, max_length=100,
        help_text="Leave blank for the provider's default model.",
    )
    system_prompt = forms.CharField(label="System prompt (optional)", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}))
    max_tokens = forms.IntegerField(required=False, min_value=1, max_value=200_000)
    temperature = forms.FloatField(required=False, min_value=0, max_value=2)

    def clean(self):
        data = super().clean()
        provider = data.get("provider")
        if provider is not None and provider.configuration_problem():
            raise forms.ValidationError(provider.configuration_problem())
        return data


class PasteForm(forms.Form):
    answer = forms.CharField(
        label="The model's answer", widget=forms.Textarea(attrs={"rows": 12}),
        error_messages={"required": "Paste the model's answer first: the answer field is empty."},
    )
    model_name = forms.CharField(
        label="Which model answered?", max_length=100, required=False,
        help_text="For the record, e.g. “ChatGPT gpt-4o” or “Claude Sonnet”. Copy/paste calls cost us nothing.",
    )


class QueryFilterForm(forms.Form):
    status = forms.ChoiceField(required=False)
    provider = forms.CharField(required=False, max_length=50)
    purpose = forms.CharField(required=False, max_length=100)
    run_id = forms.CharField(required=False, max_length=64, label="Run id")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from .models import LLMQuery

        self.fields["status"].choices = [("", "Any status")] + list(LLMQuery.Status.choices)
