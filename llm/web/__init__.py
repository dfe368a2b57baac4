"""The pages and the API: thin views over ``llm.calls`` and ``llm.records``.

HTML pages and htmx partials (views.py, dashboard_views.py, forms.py), the JSON API router
(api.py, mounted by config/api.py) and the template context (context_processors.py). llm/urls.py
is the URLconf that routes to these views.
"""

from . import dashboard_views, views
from .api import router
from .views import get_query_for_user
