from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.utils.translation import gettext

from .forms import ApiTokenForm
from .models import ApiToken


def tokens(request):
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _, new_token = ApiToken.issue(request.user, form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
                                      expires_in_days=form.cleaned_data["expires_in_days"])
        form = ApiTokenForm()
    return render(
        request,
        "accounts/tokens.html",
        {"form": form, "tokens": ApiToken.objects.for_user(request.user), "new_token": new_token},
    )


@require_POST
def revoke_token(request, pk: int):
    token = get_object_or_404(ApiToken.objects.for_user(request.user), pk=pk)
    token.revoke()
    messages.success(request, gettext("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("accounts:tokens")


def home(request):
    # The landing page gathers counts from several apps; it lives here, above them all.
    from llm.models import LLMQuery
    from llm.providers import default_provider, provider_statuses
    from notes.models import Note
    from products.models import Category, Product

    return render(
        request,
        "home.html",
        {
            "default_provider": default_provider(),
            "provider_statuses": provider_statuses(),
            "counts": {
                "notes": Note.objects.for_user(request.user).count(),
                "products": Product.objects.count(),
                "categories": Category.objects.count(),
                "calls": LLMQuery.objects.visible_to(request.user).count(),
            },
        },
    )
