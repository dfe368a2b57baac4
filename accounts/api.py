from ninja import Router, Schema

router = Router(tags=["accounts"])


class MeOut(Schema):
    id: int
    username: str
    is_staff: bool


@router.get("/me", response=MeOut, summary="The user the request is authenticated as")
def me(request):
    return request.user
