"""Evaluations: datasets of cases, suites registered by each domain app (``<app>/evals.py``),
experiments of variants, scores (automatic, judge, human).

The domain apps call these few functions; the evals app never imports a domain app.
"""


def register(suite):
    from .registry import register as _register

    return _register(suite)


def promote(**kwargs):
    """Turn a piece of real work into a case (see ``evals.promotion.promote``)."""
    from .promotion import promote as _promote

    return _promote(**kwargs)


def human_score(**kwargs):
    """Store a person's verdict on the call that produced an answer (``evals.promotion.human_score``)."""
    from .promotion import human_score as _human_score

    return _human_score(**kwargs)


def human_scores(**kwargs):
    """A person's stored verdicts: {subject: (value, details)} (``evals.promotion.human_scores``)."""
    from .promotion import human_scores as _human_scores

    return _human_scores(**kwargs)


def __getattr__(name):
    # ``evals.PromotionError``: the error promote/human_score raise on bad input (loaded lazily,
    # so importing evals from a domain app's module does not load models before the registry).
    if name == "PromotionError":
        from .promotion import PromotionError

        return PromotionError
    raise AttributeError(name)
