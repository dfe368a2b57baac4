from django import forms
from django.utils.translation import gettext_lazy as _


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text=_("What the token is for, e.g. “bookmarklet” or “nightly script”."))
