"""Keep `--dist loadgroup` working under pytest 9.2 (loaded by pytest.ini: ``-p tests.xdist_groups``).

pytest-xdist 3.8 sends the tests of one ``xdist_group`` to one worker by appending ``@<group>`` to
each item's ``_nodeid`` on the worker (xdist/remote.py). pytest 9.2 keeps a node's id in ``_id`` (a
structured ``NodeId``) and no longer reads ``_nodeid``, so the suffix is lost and the grouped tests
(the ones that start real Celery workers) run side by side on both workers, starving each other into
their timeouts. This hook, after xdist's, gives such an item the suffixed id itself; where xdist's
own suffix took (pytest 8) it changes nothing.
"""

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    if not config.getoption("loadgroup", default=False):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest < 9.2: xdist's _nodeid suffix works
        return
    for item in items:
        groups = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                         for mark in item.iter_markers("xdist_group")})
        if not groups or item.nodeid.endswith("@" + "_".join(groups)):
            continue
        item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")
