from django import forms
from django.utils.translation import gettext_lazy as _

from .models import SCOPE_CHOICES

EXPIRY_CHOICES = [("", _("never")), ("7", _("in 7 days")), ("30", _("in 30 days")), ("90", _("in 90 days")),
                  ("365", _("in a year"))]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text=_("What the token is for, e.g. “browser extension” or “nightly script”."))
    scopes = forms.MultipleChoiceField(
        choices=SCOPE_CHOICES, widget=forms.CheckboxSelectMultiple, initial=["read"],
        help_text=_("Give a token only what it needs: “capture” can create notes and nothing else."),
        error_messages={"required": _("Choose at least one scope.")},
    )
    expires_in_days = forms.TypedChoiceField(choices=EXPIRY_CHOICES, coerce=int, empty_value=None, required=False,
                                             label=_("Expires"))
