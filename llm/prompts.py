"""Prompt templates: the one prompt system of every app (seed 002's PromptService, the Django way).

Templates are YAML files in any installed app's ``prompts/`` folder, named
``<step>_v<version>.yaml``. A domain app's template is named ``<app>.<step>`` (e.g.
``segmentation/prompts/extract_taxonomy_v0.yaml`` is ``segmentation.extract_taxonomy`` version
0); ``llm``'s own templates and those in ``LLM_PROMPT_DIRS`` keep the bare step name. Several
versions of one template live side by side (``products.identify_category`` v3 and v4): ``get``
and ``render`` take the newest unless a version is asked for (evaluation variants pick one).

Each template declares its variables; using an undeclared ``{{ variable }}`` is an error
reported when the file is loaded (``manage.py check``, so at startup and in the tests) with the
file and the variable named. A template may carry provider-specific variants (``variants:
{anthropic: {system: …}}``) and an environment override beside it
(``<step>_v<version>.<LLM_PROMPT_ENV>.yaml``, e.g. ``.production.yaml``). Admins can override a
template in the database (every save is a new version; the history is kept); users can save
their own templates.

Stable prefix (for provider prompt caching). Put the marker ``{# stable-end #}`` where the part
of the prompt that repeats from call to call ends (the instructions, a run's taxonomy, the
catalog, a project's plan) and the per-item part begins; at most once per template, in
``system`` or ``user`` (a marker at the very end of a text says all of it is stable). The marker
is removed when the template is rendered: the text sent is exactly the text without it. Each
rendered text is a :class:`PromptText` (a ``str``) that remembers where its stable part ends and
which template it came from, so ``llm.complete`` records the template on the ``LLMQuery`` row and
the Anthropic provider puts a ``cache_control`` breakpoint there (OpenAI and Gemini cache a
repeated prefix on their own, so for them the order is what matters). ``cache_ttl: 1h`` in a
template asks for one-hour breakpoints instead of the 5-minute default (a call can override it
with ``complete(prompt_cache="1h")``). Text built by concatenating a ``PromptText`` with other
strings is a plain ``str`` again: no breakpoint, never a wrong one.

``render()`` is the one function that fills a template; the domain apps' prompt helpers
(segmentation/prompting.py, products/prompting.py, codegen/prompting.py, artifacts/context.py)
only call it.
"""

import importlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from django.apps import apps
from django.conf import settings

VAR = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}")
FILE_NAME = re.compile(r"^(?P<name>[a-z0-9_]+)_v(?P<version>\d+)\.yaml$")
TEXT_KEYS = ("system", "user")
STABLE_END = "{# stable-end #}"
CACHE_TTLS = ("5m", "1h")
# Templates of these apps keep their bare step name (llm's own seed examples).
BARE_NAME_APPS = {"llm", ""}


class TemplateError(ValueError):
    """A template file or override is invalid; the message names the file and what to fix."""


class PromptText(str):
    """A rendered prompt text. ``stable_end`` is where its stable prefix ends (None: no marker);
    ``template`` is the template it came from (``name_vN`` plus ``+variant``/``+dbN``)."""

    stable_end: int | None
    template: str
    cache_ttl: str

    def __new__(cls, text: str, *, stable_end: int | None = None, template: str = "", cache_ttl: str = "5m"):
        obj = super().__new__(cls, text)
        obj.stable_end = stable_end
        obj.template = template
        obj.cache_ttl = cache_ttl
        return obj

    def __reduce__(self):  # pickles (Celery, the cache) keep the marks
        return (_rebuild, (str(self), self.stable_end, self.template, self.cache_ttl))


def _rebuild(text, stable_end, template, cache_ttl):
    return PromptText(text, stable_end=stable_end, template=template, cache_ttl=cache_ttl)


@dataclass
class PromptTemplate:
    name: str
    version: int
    kind: str = "chat"  # chat | image
    description: str = ""
    system: str = ""
    user: str = ""
    variables: list[str] = field(default_factory=list)
    defaults: dict = field(default_factory=dict)
    schema: str = ""  # "module.path:ClassName", optional
    variants: dict = field(default_factory=dict)
    cache_ttl: str = "5m"
    source: str = ""
    app_label: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}_v{self.version}"

    @property
    def step(self) -> str:
        """The name without its app (``extract_taxonomy`` of ``segmentation.extract_taxonomy``)."""
        return self.name.rpartition(".")[2]

    def schema_class(self):
        """The pydantic class named by ``schema: module.path:ClassName`` (None when there is none)."""
        if not self.schema:
            return None
        module, _, attr = self.schema.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise TemplateError(f"{self.source}: schema {self.schema!r} cannot be imported: {exc}") from None


@dataclass
class RenderedPrompt:
    template: PromptTemplate
    system: PromptText
    user: PromptText
    version: str  # goes into the cache key and the logs, e.g. "character_background_v0" or "…_v0+db3"
    params: dict

    @property
    def messages(self) -> list[dict]:
        out = [{"role": "system", "content": self.system}] if self.system.strip() else []
        return out + [{"role": "user", "content": self.user}]

    @property
    def text(self) -> str:
        return (f"{self.system}\n\n" if self.system.strip() else "") + self.user


def used_variables(*texts: str) -> set[str]:
    found: set[str] = set()
    for text in texts:
        found.update(VAR.findall(text or ""))
    return found


def check_variables(where: str, declared: list[str], *texts: str) -> None:
    undefined = sorted(used_variables(*texts) - set(declared))
    if undefined:
        raise TemplateError(f"{where}: uses undefined variable(s) {', '.join(undefined)}; declare them under `variables:`.")


def check_marker(where: str, *texts: str) -> None:
    count = sum((t or "").count(STABLE_END) for t in texts)
    if count > 1:
        raise TemplateError(f"{where}: {STABLE_END} appears {count} times; mark the end of the stable prefix once.")


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def template_name(app_label: str, step: str) -> str:
    return step if app_label in BARE_NAME_APPS else f"{app_label}.{step}"


def parse_file(path: Path, app_label: str = "") -> PromptTemplate:
    match = FILE_NAME.match(path.name)
    if not match:
        raise TemplateError(f"{path}: template files are named <name>_v<version>.yaml (lowercase, digits, underscores).")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        env = getattr(settings, "LLM_PROMPT_ENV", "")
        override_path = path.with_name(f"{path.stem}.{env}.yaml") if env else None
        if override_path and override_path.exists():
            data = _merge(data, yaml.safe_load(override_path.read_text(encoding="utf-8")) or {})
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: the file must hold a mapping (system, user, variables, …).")
    unknown = set(data) - {"description", "kind", "system", "user", "variables", "defaults", "schema", "variants", "cache_ttl"}
    if unknown:
        raise TemplateError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}.")
    template = PromptTemplate(
        name=template_name(app_label, match["name"]), version=int(match["version"]), kind=data.get("kind", "chat"),
        description=data.get("description", ""), system=data.get("system", "") or "", user=data.get("user", "") or "",
        variables=list(data.get("variables") or []), defaults=dict(data.get("defaults") or {}),
        schema=data.get("schema") or "", variants=dict(data.get("variants") or {}),
        cache_ttl=str(data.get("cache_ttl") or "5m"), source=str(path), app_label=app_label,
    )
    if not template.user.replace(STABLE_END, "").strip():
        raise TemplateError(f"{path}: `user:` (the prompt text) is required.")
    if template.kind not in ("chat", "image"):
        raise TemplateError(f"{path}: kind must be chat or image, not {template.kind!r}.")
    if template.cache_ttl not in CACHE_TTLS:
        raise TemplateError(f"{path}: cache_ttl must be 5m or 1h, not {template.cache_ttl!r}.")
    check_variables(str(path), template.variables, template.system, template.user)
    check_marker(str(path), template.system, template.user)
    for provider, variant in template.variants.items():
        if not isinstance(variant, dict) or set(variant) - set(TEXT_KEYS):
            raise TemplateError(f"{path}: variant {provider!r} may only set system and/or user.")
        check_variables(f"{path} (variant {provider})", template.variables, *variant.values())
        check_marker(f"{path} (variant {provider})", variant.get("system", template.system),
                     variant.get("user", template.user))
    return template


def template_dirs() -> list[tuple[str, Path]]:
    dirs = [(cfg.label, Path(cfg.path) / "prompts") for cfg in apps.get_app_configs()]
    dirs += [("", Path(d)) for d in getattr(settings, "LLM_PROMPT_DIRS", [])]
    return [(label, d) for label, d in dirs if d.is_dir()]


@lru_cache(maxsize=1)
def load_all() -> dict[str, PromptTemplate]:
    """Every file template, keyed by ``name_v<version>``. Raises TemplateError on the first bad file."""
    found: dict[str, PromptTemplate] = {}
    for label, folder in template_dirs():
        for path in sorted(folder.glob("*.yaml")):
            if path.name.count(".") > 1:  # environment overrides are merged into their base file
                continue
            template = parse_file(path, label)
            if template.key in found:
                raise TemplateError(f"{path}: template {template.key} is also defined in {found[template.key].source}.")
            found[template.key] = template
    return found


def problems() -> list[str]:
    """Every template problem (used by the system check), not just the first."""
    out = []
    for label, folder in template_dirs():
        for path in sorted(folder.glob("*.yaml")):
            if path.name.count(".") > 1:
                continue
            try:
                parse_file(path, label).schema_class()
            except TemplateError as exc:
                out.append(str(exc))
    return out


def get(name: str, version: int | None = None) -> PromptTemplate:
    templates = load_all()
    if version is not None:
        key = f"{name}_v{version}"
        if key not in templates:
            raise TemplateError(f"No prompt template {key}. Known: {', '.join(sorted(templates)) or 'none'}.")
        return templates[key]
    candidates = [t for t in templates.values() if t.name == name]
    if not candidates:
        raise TemplateError(f"No prompt template named {name!r}. Known: {', '.join(sorted(templates)) or 'none'}.")
    return max(candidates, key=lambda t: t.version)


def versions(name: str) -> list[int]:
    """The file versions of template ``name``, oldest first."""
    return sorted(t.version for t in load_all().values() if t.name == name)


def _fill(text: str, values: dict) -> tuple[str, int | None]:
    """The filled text without the marker, and where the marker was (None without one)."""
    head, marker, tail = (text or "").partition(STABLE_END)
    filled_head = VAR.sub(lambda m: str(values[m.group(1)]), head)
    if not marker:
        return filled_head, None
    return filled_head + VAR.sub(lambda m: str(values[m.group(1)]), tail), len(filled_head)


# Where admin overrides come from: (name, version) -> the active PromptOverride or None. Wired by
# LlmConfig.ready() to llm.definitions (cached per process); this module imports no models, so
# llm.models can import it (to check an override) without a circle.
_override_source = None


def use_override_source(lookup) -> None:
    global _override_source
    _override_source = lookup


def _active_override(name: str, version: int):
    return _override_source(name, version) if _override_source is not None else None


def render(template: "PromptTemplate | str", variables: dict, *, version: int | None = None, provider_kind: str = "",
           use_overrides: bool = True) -> RenderedPrompt:
    """Fill a template (by name: the newest version unless ``version`` is given).

    Provider variant first, then the admin's active database override. Raises TemplateError
    when a declared variable has no value."""
    if isinstance(template, str):
        template = get(template, version)
    missing = [v for v in template.variables if v not in variables or variables[v] is None]
    if missing:
        raise TemplateError(f"Template {template.key} needs a value for: {', '.join(missing)}.")
    system, user, version_label = template.system, template.user, template.key
    variant = template.variants.get(provider_kind) or {}
    system, user = variant.get("system", system), variant.get("user", user)
    if variant:
        version_label += f"+{provider_kind}"
    if use_overrides:
        override = _active_override(template.name, template.version)
        if override is not None:
            system = override.system if override.system else system
            user = override.user if override.user else user
            version_label += f"+db{override.revision}"
    params = {k: v for k, v in template.defaults.items() if k in ("temperature", "max_tokens")}
    system_text, system_end = _fill(system, variables)
    user_text, user_end = _fill(user, variables)
    marks = {"template": version_label, "cache_ttl": template.cache_ttl}
    return RenderedPrompt(template=template, system=PromptText(system_text, stable_end=system_end, **marks),
                          user=PromptText(user_text, stable_end=user_end, **marks), version=version_label, params=params)


def render_text(system: str, user: str, variables: dict, *, name: str = "custom") -> RenderedPrompt:
    """Fill a user's own template (variables are whatever it uses)."""
    declared = sorted(used_variables(system, user))
    missing = [v for v in declared if v not in variables]
    if missing:
        raise TemplateError(f"Fill in: {', '.join(missing)}.")
    template = PromptTemplate(name=name, version=0, system=system, user=user, variables=declared)
    marks = {"template": f"user:{name}"}
    (system_text, system_end), (user_text, user_end) = _fill(system, variables), _fill(user, variables)
    return RenderedPrompt(template=template, system=PromptText(system_text, stable_end=system_end, **marks),
                          user=PromptText(user_text, stable_end=user_end, **marks), version=f"user:{name}", params={})


# --- What complete() reads off the messages -------------------------------------------------


@dataclass(frozen=True)
class CachePoint:
    """Where a stable prefix ends: message ``message``, its content part ``part`` (None for text
    content), after ``offset`` characters."""

    message: int
    part: int | None
    offset: int
    ttl: str


def _texts(messages: list[dict]):
    for i, m in enumerate(messages):
        content = m.get("content")
        if isinstance(content, str):
            yield i, None, content
        elif isinstance(content, list):
            for j, p in enumerate(content):
                if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str):
                    yield i, j, p["text"]


def templates_of(messages: list[dict]) -> str:
    """The templates the messages were rendered from, in order, e.g.
    ``codegen.system_v0, codegen.step_2_database_v0`` (blank when none was)."""
    seen: list[str] = []
    for _, _, text in _texts(messages):
        name = getattr(text, "template", "")
        if name and name not in seen:
            seen.append(name)
    return ", ".join(seen)


def cache_points(messages: list[dict], ttl: str | None = None) -> list[CachePoint]:
    """The end of every marked stable prefix in the messages (``ttl`` overrides the templates')."""
    points = []
    for i, j, text in _texts(messages):
        end = getattr(text, "stable_end", None)
        if end is not None and end > 0:
            points.append(CachePoint(i, j, end, ttl or getattr(text, "cache_ttl", "5m") or "5m"))
    return points


# Where run archives are written: llm.records.write_prompt_archive, wired by LlmConfig.ready()
# like the override source (records sits above prompts: pricing -> providers -> models -> prompts).
_archive_writer = None


def use_archive_writer(write) -> None:
    global _archive_writer
    _archive_writer = write


def archive_for_run(run_id: str, rendered: RenderedPrompt) -> str:
    """Keep the exact template a run used, once per run, beside its interaction files."""
    if _archive_writer is None:
        raise RuntimeError("llm.prompts.archive_for_run needs the llm app ready (LlmConfig.ready wires the writer).")
    t = rendered.template
    body = f"# {t.key} ({rendered.version})\n# source: {t.source}\n\n[system]\n{t.system}\n\n[user]\n{t.user}\n"
    return _archive_writer(run_id, f"{t.step}_prompt", body)
