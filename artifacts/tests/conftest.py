import pytest

from notes.models import Note

PAGE_URL = "https://docs.python.org/3/library/asyncio-task.html"


@pytest.fixture
def note(owner):
    return Note.objects.create(
        owner=owner, page_url=PAGE_URL, page_title="Coroutines and Tasks",
        page_metadata={"description": "High-level asyncio APIs", "lang": "en"},
        page_section_html="<section><h2>Creating Tasks</h2><p>Wrap the coro into a Task.</p><script>evil()</script></section>",
        highlighted_text="Save a reference to the result of this function.",
        body="Fire-and-forget create_task() is a bug waiting to happen.",
    )


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run on_commit callbacks (task enqueues) at the end of the block, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


FLASHCARDS = {"cards": [{"front": "What keeps a task alive?", "back": "A strong reference, e.g. in a set."},
                        {"front": "What does TaskGroup do on failure?", "back": "Cancels the siblings."}]}
QUIZ = {"questions": [{"question": "Which call schedules a coroutine?", "choices": ["asyncio.run", "asyncio.create_task"],
                       "answer_index": 1, "explanation": "create_task wraps it in a Task."}]}
