"""What a locked-out login attempt sees (django-axes, AXES_LOCKOUT_CALLABLE): the login page with
a message saying how long to wait, answered with 429 and Retry-After."""

import math

from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render
from django.utils.translation import ngettext


def lockout_response(request, original_response=None, credentials=None):
    cool_off = get_cool_off(request)
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else None
    if minutes:
        message = ngettext(
            "Too many failed attempts; try again in %(n)d minute or ask an administrator.",
            "Too many failed attempts; try again in %(n)d minutes or ask an administrator.", minutes) % {"n": minutes}
    else:
        message = "Too many failed attempts; ask an administrator to unlock the account."
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    response = render(request, "registration/login.html",
                      {"form": form, "lockout_message": message, "next": request.POST.get("next", "")}, status=429)
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    return response
