"""Sample notes for the demo user (``manage.py seed_demo``), written by hand.

Each note is identified by its page URL and highlighted text, so seeding twice adds nothing.
The two asyncio notes come from the same page, to show related notes.
"""

from .models import Note

ASYNCIO_URL = "https://docs.python.org/3/library/asyncio-task.html"
ASYNCIO_TITLE = "Coroutines and Tasks — Python 3.13 documentation"
ASYNCIO_META = {
    "description": "This section outlines high-level asyncio APIs to work with coroutines and Tasks.",
    "og:site_name": "Python documentation",
    "lang": "en",
}
ASYNCIO_HTML = """
<section id="creating-tasks">
<h2>Creating Tasks</h2>
<dl class="py function">
<dt><code>asyncio.create_task(coro, *, name=None, context=None)</code></dt>
<dd>
<p>Wrap the <em>coro</em> coroutine into a <code>Task</code> and schedule its execution.
Return the Task object.</p>
<p>The task is executed in the loop returned by <code>get_running_loop()</code>;
<code>RuntimeError</code> is raised if there is no running loop in the current thread.</p>
<div class="admonition important">
<p class="admonition-title">Important</p>
<p>Save a reference to the result of this function, to avoid a task disappearing
mid-execution. The event loop only keeps weak references to tasks. A task that isn't
referenced elsewhere may get garbage collected at any time, even before it's done.</p>
</div>
<pre>background_tasks = set()

for i in range(10):
    task = asyncio.create_task(some_coro(param=i))
    background_tasks.add(task)
    task.add_done_callback(background_tasks.discard)</pre>
</dd>
</dl>
</section>
<section id="task-groups">
<h2>Task Groups</h2>
<p>Task groups combine a task creation API with a convenient and reliable way to wait for
all tasks in the group to finish.</p>
<p>The <code>async with</code> statement will wait for all tasks in the group to finish.
While waiting, new tasks may still be added to the group. Once the last task has finished
and the <code>async with</code> block is exited, no new tasks may be added.</p>
<p>The first time any of the tasks belonging to the group fails with an exception other than
<code>CancelledError</code>, the remaining tasks in the group are cancelled. The exceptions
are then combined and raised as an <code>ExceptionGroup</code>.</p>
<pre>async def main():
    async with asyncio.TaskGroup() as tg:
        task1 = tg.create_task(some_coro(...))
        task2 = tg.create_task(another_coro(...))
    print(f"Both tasks have completed now: {task1.result()}, {task2.result()}")</pre>
</section>
<script>window.DOCUMENTATION_OPTIONS = {VERSION: "3.13", LANGUAGE: "en"};</script>
"""

SAMPLE_NOTES = [
    {
        "page_url": ASYNCIO_URL,
        "page_title": ASYNCIO_TITLE,
        "page_metadata": ASYNCIO_META,
        "page_section_html": ASYNCIO_HTML,
        "highlighted_text": (
            "Save a reference to the result of this function, to avoid a task disappearing "
            "mid-execution. The event loop only keeps weak references to tasks."
        ),
        "body": (
            "Fire-and-forget create_task() is a bug waiting to happen: if nothing holds the Task, "
            "the GC can collect it halfway through. Keep tasks in a set and discard them in a done "
            "callback — or better, use a TaskGroup so there is an owner.\n\n"
            "Check our webhook sender: it calls create_task() and drops the result."
        ),
    },
    {
        "page_url": ASYNCIO_URL,
        "page_title": ASYNCIO_TITLE,
        "page_metadata": ASYNCIO_META,
        "page_section_html": ASYNCIO_HTML,
        "highlighted_text": (
            "The first time any of the tasks belonging to the group fails with an exception other "
            "than CancelledError, the remaining tasks in the group are cancelled."
        ),
        "body": (
            "TaskGroup (3.11+) is structured concurrency: one failure cancels the siblings and all "
            "errors come back together as an ExceptionGroup, handled with except*. "
            "asyncio.gather() by contrast lets the other tasks keep running unless "
            "return_exceptions is used carefully."
        ),
    },
    {
        "page_url": "https://en.wikipedia.org/wiki/Photosynthesis",
        "page_title": "Photosynthesis - Wikipedia",
        "page_metadata": {"description": "Biological process to convert light into chemical energy", "lang": "en"},
        "page_section_html": """
<div class="mw-parser-output">
<h2 id="Light-dependent_reactions">Light-dependent reactions</h2>
<p>In the light-dependent reactions, one molecule of the pigment <a href="/wiki/Chlorophyll">chlorophyll</a>
absorbs one <a href="/wiki/Photon">photon</a> and loses one electron. This electron is taken up
by a modified form of chlorophyll called <b>pheophytin</b>, which passes the electron to a
quinone molecule, starting the flow of electrons down an electron transport chain that leads
to the ultimate reduction of NADP to NADPH.</p>
<p>In addition, this creates a proton gradient (energy gradient) across the chloroplast
membrane, which is used by ATP synthase in the synthesis of ATP. The chlorophyll molecule
ultimately regains the electron it lost when a water molecule is split in a process called
<a href="/wiki/Photolysis">photolysis</a>, which releases oxygen.</p>
<p>The overall equation for the light-dependent reactions under the conditions of non-cyclic
electron flow in green plants is:</p>
<dl><dd>2 H<sub>2</sub>O + 2 NADP<sup>+</sup> + 3 ADP + 3 P<sub>i</sub> + light →
2 NADPH + 2 H<sup>+</sup> + 3 ATP + O<sub>2</sub></dd></dl>
<sup class="reference"><a href="#cite_note-41">[41]</a></sup>
</div>
""",
        "highlighted_text": (
            "The chlorophyll molecule ultimately regains the electron it lost when a water molecule "
            "is split in a process called photolysis, which releases oxygen."
        ),
        "body": (
            "So the O2 plants release comes from water, not from CO2 — a classic exam trap. "
            "The light reactions make ATP and NADPH; the Calvin cycle spends them to fix CO2."
        ),
    },
    {
        "page_url": "https://en.wikipedia.org/wiki/French_Revolution",
        "page_title": "French Revolution - Wikipedia",
        "page_metadata": {"description": "Period of political and societal change in France, 1789–1799", "lang": "en"},
        "page_section_html": """
<div class="mw-parser-output">
<h3 id="Estates-General_of_1789">Estates-General of 1789</h3>
<p>The Estates-General was divided into three parts: the First Estate for members of the
clergy, the Second for the nobility, and the Third for the "commons". Each sat separately,
enabling the First and Second Estates to outvote the Third, despite representing less than
5% of the population.</p>
<p>On 17 June, the Third Estate declared itself the <b>National Assembly</b>, an assembly not
of the Estates but of "the People". When they found the doors of their meeting hall locked
on 20 June, the deputies gathered in a nearby indoor tennis court and swore the
<a href="/wiki/Tennis_Court_Oath">Tennis Court Oath</a>, promising "never to separate, and to
reassemble wherever circumstances require, until the constitution of the kingdom is
established".</p>
<table class="infobox"><tr><th>Date</th><td>5 May 1789</td></tr>
<tr><th>Location</th><td>Versailles</td></tr></table>
</div>
""",
        "highlighted_text": (
            "When they found the doors of their meeting hall locked on 20 June, the deputies gathered "
            "in a nearby indoor tennis court and swore the Tennis Court Oath"
        ),
        "body": (
            "The turning point is procedural: voting by order (one vote per estate) versus by head. "
            "Once the Third Estate called itself the National Assembly, sovereignty moved from the "
            "king to 'the nation' — three weeks before the Bastille."
        ),
    },
    {
        "page_url": "https://developer.mozilla.org/en-US/docs/Web/HTTP/Caching",
        "page_title": "HTTP caching - HTTP | MDN",
        "page_metadata": {
            "description": "The HTTP cache stores a response associated with a request and reuses it for subsequent requests.",
            "og:site_name": "MDN Web Docs",
            "lang": "en-US",
        },
        "page_section_html": """
<section aria-labelledby="force_revalidation">
<h2 id="force_revalidation"><a href="#force_revalidation">Force Revalidation</a></h2>
<p>If you do not want a response to be reused, but instead want to always fetch the latest
content from the server, you can use the <code>no-cache</code> directive to force
validation.</p>
<p>By adding <code>Cache-Control: no-cache</code> to the response along with
<code>Last-Modified</code> and <code>ETag</code> — as shown below — the client will receive a
<code>200 OK</code> response if the requested resource has been updated, or will otherwise
receive a <code>304 Not Modified</code> response if the requested resource has not been
updated.</p>
<pre>HTTP/1.1 200 OK
Content-Type: text/html
Content-Length: 1024
Date: Tue, 22 Feb 2022 22:22:22 GMT
Last-Modified: Tue, 22 Feb 2022 22:00:00 GMT
ETag: deadbeef
Cache-Control: no-cache</pre>
<p>It is often stated that the combination of <code>max-age=0</code> and
<code>must-revalidate</code> has the same meaning as <code>no-cache</code>.</p>
<style>.notecard { border-left: 4px solid #0069c2; }</style>
<div class="notecard note"><p><strong>Note:</strong> <code>no-cache</code> does not mean
"don't cache". It means "revalidate before use". If you want to prevent storing, use
<code>no-store</code>.</p></div>
</section>
""",
        "highlighted_text": 'no-cache does not mean "don\'t cache". It means "revalidate before use".',
        "body": (
            "For our HTML pages: Cache-Control: no-cache + ETag gives cheap 304s and never stale "
            "pages. For fingerprinted static files: max-age=31536000, immutable. Anything with "
            "personal data: no-store (and private for shared caches)."
        ),
    },
    {
        "page_url": "https://use-the-index-luke.com/sql/where-clause/the-equals-operator/concatenated-keys",
        "page_title": "Multi-column indexes: concatenated keys — Use The Index, Luke",
        "page_metadata": {"description": "How column order in a composite index decides which queries can use it.", "lang": "en"},
        "page_section_html": """
<div id="content">
<h1>Concatenated Indexes</h1>
<p>Even though the database creates the index for the primary key automatically, there is
still room for manual refinements if the key consists of multiple columns. In that case the
database creates an index on all primary key columns — a so-called <dfn>concatenated
index</dfn> (also known as multi-column, composite or combined index).</p>
<p>The column order of a concatenated index has great impact on its usability so it must be
chosen carefully.</p>
<p>The index is first sorted by <code>EMPLOYEE_ID</code> and then by
<code>SUBSIDIARY_ID</code>. A query that filters on <code>SUBSIDIARY_ID</code> alone cannot
use the index, because the entries for one subsidiary are scattered all over the index:
the database must read the entire table.</p>
<p class="tip">The most important consideration when defining a concatenated index is how to
choose the column order so it can be used as often as possible.</p>
</div>
""",
        "highlighted_text": "The column order of a concatenated index has great impact on its usability so it must be chosen carefully.",
        "body": (
            "An index on (a, b) serves WHERE a = ? and WHERE a = ? AND b = ?, but not WHERE b = ? "
            "alone — think phone book sorted by last name, then first name. Put the column used "
            "for equality first and the range/sort column last: (owner_id, updated_at) serves "
            "'my notes, newest first'."
        ),
    },
    {
        "page_url": "https://doc.rust-lang.org/book/ch04-01-what-is-ownership.html",
        "page_title": "What is Ownership? - The Rust Programming Language",
        "page_metadata": {"description": "The Rust Programming Language, chapter 4.1", "lang": "en"},
        "page_section_html": """
<main>
<h3 id="ownership-rules"><a class="header" href="#ownership-rules">Ownership Rules</a></h3>
<p>First, let’s take a look at the ownership rules. Keep these rules in mind as we work
through the examples that illustrate them:</p>
<ul>
<li>Each value in Rust has an <em>owner</em>.</li>
<li>There can only be one owner at a time.</li>
<li>When the owner goes out of scope, the value will be dropped.</li>
</ul>
<h3 id="variables-and-data-interacting-with-move">Variables and Data Interacting with Move</h3>
<pre><code class="language-rust">    let s1 = String::from("hello");
    let s2 = s1;

    println!("{s1}, world!");</code></pre>
<p>You’ll get an error like this because Rust prevents you from using the invalidated
reference: <code>error[E0382]: borrow of moved value: `s1`</code>.</p>
<p>If you’ve heard the terms <em>shallow copy</em> and <em>deep copy</em> while working with
other languages, the concept of copying the pointer, length, and capacity without copying
the data probably sounds like making a shallow copy. But because Rust also invalidates the
first variable, instead of being called a shallow copy, it’s known as a <em>move</em>.</p>
</main>
""",
        "highlighted_text": "Rust also invalidates the first variable, instead of being called a shallow copy, it’s known as a move.",
        "body": (
            "Assignment of a heap-owning value moves it; the old binding is dead, so there is never "
            "a double free. Types that are Copy (integers, bool, char, tuples of Copy) are copied "
            "instead. Use .clone() when a deep copy is really wanted, or borrow with & to avoid both."
        ),
    },
]


def seed_notes(user) -> int:
    """Create the sample notes ``user`` does not have yet; return how many were created."""
    created = 0
    for sample in SAMPLE_NOTES:
        exists = (
            Note.objects.for_user(user)
            .filter(page_url=sample["page_url"], highlighted_text=sample["highlighted_text"])
            .exists()
        )
        if not exists:
            Note.objects.create(owner=user, **sample)
            created += 1
    return created
