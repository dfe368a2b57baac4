def llm_status(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from ..calls import pending_for

    return {"pending_manual_count": pending_for(user).count()}
