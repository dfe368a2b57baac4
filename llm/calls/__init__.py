"""The call path: one model call from messages to a checked answer.

``complete()`` (service.py) normalises the messages, checks budgets (budgets.py), rate limits
(ratelimit.py) and concurrency leases (concurrency.py), answers from the cache (cache.py) or asks
the provider with retries (retry.py), reads the answer (structured.py, outcomes.py) and records it
(``llm.records``). Beside it: token counts and cost ranges before a call (tokens.py,
estimate.py), the copy/paste answers (manual.py), images (images.py), background prompt jobs
(jobs.py) and work claims (claims.py). Other parts import from here.
"""

from . import budgets, cache, concurrency, content, estimate, images, jobs, ratelimit, structured, tokens
from .content import image_part
from .enqueue import enqueue, enqueue_after_commit
from .images import create_image_job, generate_image, image_cost, resolve_image_model
from .jobs import create_job
from .manual import PasteResult, pending_for, submit_answer
from .service import Completion, complete, normalize_messages, render_prompt
from .warmup import warm_up
