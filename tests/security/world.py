"""One of everything a user can own, for the access matrix, the CSRF sweep and the hostile-content pages.

``build_world(owner, text=...)`` puts ``text`` into every field a page shows that came from a captured
page or an LLM answer, so the hostile-content test builds the same world with attack payloads in it.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc00000030101005bfd2f5a0000000049454e44ae426082"
)


@dataclass
class World:
    owner: object
    note: object = None
    artifact: object = None
    artifacts: dict = field(default_factory=dict)
    pending_artifact: object = None
    user_key: object = None
    webhook: object = None
    batch: object = None
    query: object = None
    manual_query_id: int = 0
    job: object = None
    image: object = None
    session: object = None
    bulk: object = None
    product: object = None
    seg_run: object = None
    seg_taxonomy: object = None
    codegen_run: object = None
    codegen_file: object = None
    token: object = None
    experiment: object = None
    raw_token: str = ""


def build_world(owner, *, text: str = "plain text", fake=None) -> World:
    """Needs the ``providers`` fixture (fake provider server); ``fake`` answers the logged call with ``text``."""
    from accounts.models import ApiToken
    from artifacts.models import BatchRun, NoteArtifact, UserApiKey, Webhook
    from codegen import pipeline as codegen_pipeline
    from codegen.models import GeneratedFile
    from codegen.paths import path_key
    from llm.errors import ManualAnswerPending
    from llm.models import GeneratedImage, LLMJob, LLMProvider, LLMQuery
    from llm.calls import complete
    from llm.testing.fake_provider import Reply
    from notes.models import Note
    from products.models import BulkGenerationJob, Category, GenerationSession, Product, Subcategory
    from segmentation.models import ProductSegment, ProductTaxonomy, RefinedProductSegment, SegmentationRun

    w = World(owner=owner)
    w.note = Note.objects.create(
        owner=owner, page_url="https://example.com/page", page_title=text[:500], page_section_html=text,
        highlighted_text=text, body=text, page_metadata={"description": text},
    )
    common = dict(note=w.note, owner=owner, status=NoteArtifact.Status.COMPLETED, prompt=text, system_prompt=text)
    w.artifacts = {
        "summary": NoteArtifact.objects.create(artifact_type="summary", content=text, **common),
        "key_points": NoteArtifact.objects.create(artifact_type="key_points", content=text, **common),
        "code_example": NoteArtifact.objects.create(artifact_type="code_example", content=f"```html\n{text}\n```",
                                                    **common),
        "diagram": NoteArtifact.objects.create(artifact_type="diagram", content=f"graph TD\n  A[{text}] --> B", **common),
        "flashcards": NoteArtifact.objects.create(
            artifact_type="flashcards", content=text,
            structured_content={"cards": [{"front": text, "back": text}]}, **common),
        "quiz": NoteArtifact.objects.create(
            artifact_type="quiz", content=text, structured_content={"questions": [
                {"question": text, "choices": [text, "b"], "answer_index": 0, "explanation": text}]}, **common),
    }
    w.artifact = w.artifacts["summary"]
    w.user_key = UserApiKey(user=owner, provider="openai")
    w.user_key.set_key("sk-world-user-key-0000")
    w.user_key.save()
    w.webhook = Webhook.objects.create(user=owner, url="https://hooks.example.com/in")
    w.batch = BatchRun.objects.create(user=owner, artifact_type="summary")

    if fake is not None:
        fake.set_default(Reply(text=text))
    done = complete(purpose="tests.security", prompt=text, provider="openai", model="gpt-4o-mini", user=owner)
    w.query = LLMQuery.objects.get(pk=done.query_id)
    try:
        complete(purpose="tests.security.manual", prompt=text, provider="manual", user=owner)
    except ManualAnswerPending as pending:
        w.manual_query_id = pending.query_id
    openai = LLMProvider.objects.get(name="openai")
    w.job = LLMJob.objects.create(user=owner, provider=openai, prompt=text, result_text=text, status="completed",
                                  query=w.query)
    path = default_storage.save(f"images/security-{owner.pk}.png", ContentFile(PNG_1X1))
    w.image = GeneratedImage.objects.create(
        user=owner, purpose="llm.images", provider=openai, model_name="gpt-image-1", prompt=text,
        revised_prompt=text, status="completed", image_path=path, thumbnail_path=path, cost_usd=Decimal("0.01"),
    )

    category, _ = Category.objects.get_or_create(name="Security category")
    subcategory, _ = Subcategory.objects.get_or_create(category=category, name="Security subcategory")
    w.product = Product.objects.create(
        title=text[:200] or "Product", description=text, category=category, subcategory=subcategory,
        attributes={"colour": text}, bullet_points=[text], search_keywords=[text[:50]],
    )
    w.session = GenerationSession.objects.create(
        owner=owner, raw_input=text, suggestion_reason=text, generated_content={"title": text, "description": text},
    )
    w.bulk = BulkGenerationJob.objects.create(owner=owner, name=text[:100])

    w.seg_run = SegmentationRun.objects.create(id=f"RUN_security_{owner.pk}", owner=owner, category_name=text[:200], status="completed",
                                               stage="done", total_products=1, processed_products=1)
    taxonomy = ProductTaxonomy.objects.create(run=w.seg_run, position=1, category_name=text[:200], definition=text,
                                              product_count=1)
    w.seg_taxonomy = taxonomy
    ProductSegment.objects.create(run=w.seg_run, product=w.product, taxonomy=taxonomy, confidence=0.9)
    RefinedProductSegment.objects.create(run=w.seg_run, product=w.product, taxonomy=taxonomy)

    w.codegen_run = codegen_pipeline.create_run(owner=owner, name="security-app", description=text,
                                                provider="openai", model="gpt-4o-mini")
    step = w.codegen_run.steps.order_by("position").first()
    w.codegen_file = GeneratedFile.objects.create(
        run=w.codegen_run, step=step, path="frontend/index.html", path_key=path_key("frontend/index.html"),
        content=text, purpose=text,
    )
    w.token, w.raw_token = ApiToken.issue(owner, "security")
    from evals.models import Dataset, Experiment

    dataset = Dataset.objects.create(name="products.identify_category", suite="products.identify_category", owner=owner)
    w.experiment = Experiment.objects.create(suite="products.identify_category", dataset=dataset, owner=owner,
                                             status=Experiment.Status.DONE)
    return w
