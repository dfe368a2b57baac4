from django import template
from django.contrib.staticfiles import finders

from ..forms import GenerateForm
from ..models import ArtifactImage, NoteArtifact, UserApiKey
from ..render import markdown_to_html

register = template.Library()

MERMAID_STATIC = "vendor/mermaid.min.js"


@register.filter(name="markdown")
def markdown_filter(text: str):
    """LLM Markdown as sanitised HTML (see artifacts.render)."""
    return markdown_to_html(text)


@register.simple_tag
def mermaid_available() -> bool:
    return bool(finders.find(MERMAID_STATIC))


@register.inclusion_tag("artifacts/_note_panel.html", takes_context=True)
def artifact_panel(context, note):
    """The note page's artifact section: the generation form and the latest version of each artifact."""
    user = context["request"].user
    artifacts = (
        NoteArtifact.objects.for_user(user).filter(note=note).latest_versions().order_by("-created_at", "-id")[:50]
    )
    return {
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        "note": note,
        "form": GenerateForm(user=user),
        "artifacts": artifacts,
        "has_keys": UserApiKey.objects.for_user(user).exists(),
        "gallery": ArtifactImage.objects.filter(artifact__note=note, artifact__owner=user, generated__isnull=False)
        .exclude(image="").select_related("artifact")[:48],
    }


@register.filter
def usd(value) -> str:
    """$0.00012345 style; unknown (None) says so instead of pretending it was free."""
    if value is None:
        return "cost unknown"
    text = f"{value:.8f}".rstrip("0")
    if text.endswith("."):
        text += "00"
    return f"${text}"


@register.simple_tag
def pending_prompt(artifact) -> str:
    from ..pipeline import pending_prompt as prompt_of

    return prompt_of(artifact)


@register.simple_tag
def artifact_streams(artifact) -> bool:
    """Whether this queued/running artifact's answer streams to the page (else the card polls)."""
    from ..pipeline import streams_live

    return streams_live(artifact)


@register.simple_tag
def browser_prompt(artifact) -> str:
    """What the in-browser mode sends to the browser's model: the artifact's own system prompt and
    prompt, with the JSON-schema instruction the copy/paste prompt carries for structured kinds."""
    from llm.models import ManualInteraction
    from llm.calls import render_prompt

    mi = ManualInteraction.objects.filter(query_id=artifact.pending_query_id).only("json_schema").first()
    schema = mi.json_schema if mi else None
    import json

    # As JSON in a data attribute (autoescaped): htmx swaps would drop a <script> holding it.
    return json.dumps({"system": artifact.system_prompt,
                       "prompt": render_prompt([{"role": "user", "content": artifact.prompt}], schema)})
