"""Prompt templates (seed 002's PromptService, the Django way).

Templates are YAML files in any installed app's ``prompts/`` folder, named
``<name>_v<version>.yaml``. Each declares its variables; using an undeclared ``{{ variable }}``
is an error reported by ``manage.py check`` (and so at startup and in the tests) with the file
and the variable named. A template may carry provider-specific variants (``variants:
{anthropic: {system: …}}``) and an environment override beside it
(``<name>_v<version>.<LLM_PROMPT_ENV>.yaml``, e.g. ``.production.yaml``). Admins can override a
template in the database (every save is a new version; the history is kept); users can save
their own templates.
"""

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


class TemplateError(ValueError):
    """A template file or override is invalid; the message names the file and what to fix."""


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
    source: str = ""
    app_label: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}_v{self.version}"

    def schema_class(self):
        """The pydantic class named by ``schema: module.path:ClassName`` (None when there is none)."""
        if not self.schema:
            return None
        module, _, attr = self.schema.partition(":")
        try:
            import importlib

            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise TemplateError(f"{self.source}: schema {self.schema!r} cannot be imported: {exc}") from None


@dataclass
class RenderedPrompt:
    template: PromptTemplate
    system: str
    user: str
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


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def parse_file(path: Path, app_label: str = "") -> PromptTemplate:
    match = FILE_NAME.match(path.name)
    if not match:
        raise TemplateError(f"{path}: template files are named <name>_v<version>.yaml (lowercase, digits, underscores).")
    try:
        data = yaml.safe_load(path.read_text()) or {}
        env = getattr(settings, "LLM_PROMPT_ENV", "")
        override_path = path.with_name(f"{path.stem}.{env}.yaml") if env else None
        if override_path and override_path.exists():
            data = _merge(data, yaml.safe_load(override_path.read_text()) or {})
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: the file must hold a mapping (system, user, variables, …).")
    unknown = set(data) - {"description", "kind", "system", "user", "variables", "defaults", "schema", "variants"}
    if unknown:
        raise TemplateError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}.")
    template = PromptTemplate(
        name=match["name"], version=int(match["version"]), kind=data.get("kind", "chat"),
        description=data.get("description", ""), system=data.get("system", "") or "", user=data.get("user", "") or "",
        variables=list(data.get("variables") or []), defaults=dict(data.get("defaults") or {}),
        schema=data.get("schema") or "", variants=dict(data.get("variants") or {}), source=str(path), app_label=app_label,
    )
    if not template.user.strip():
        raise TemplateError(f"{path}: `user:` (the prompt text) is required.")
    if template.kind not in ("chat", "image"):
        raise TemplateError(f"{path}: kind must be chat or image, not {template.kind!r}.")
    check_variables(str(path), template.variables, template.system, template.user)
    for provider, variant in template.variants.items():
        if not isinstance(variant, dict) or set(variant) - set(TEXT_KEYS):
            raise TemplateError(f"{path}: variant {provider!r} may only set system and/or user.")
        check_variables(f"{path} (variant {provider})", template.variables, *variant.values())
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


def _fill(text: str, values: dict) -> str:
    return VAR.sub(lambda m: str(values[m.group(1)]), text or "")


def render(template: "PromptTemplate | str", variables: dict, *, provider_kind: str = "", use_overrides: bool = True) -> RenderedPrompt:
    """Fill a template. Provider variant first, then the admin's active database override."""
    if isinstance(template, str):
        template = get(template)
    missing = [v for v in template.variables if v not in variables or variables[v] is None]
    if missing:
        raise TemplateError(f"Template {template.key} needs a value for: {', '.join(missing)}.")
    system, user, version = template.system, template.user, template.key
    variant = template.variants.get(provider_kind) or {}
    system, user = variant.get("system", system), variant.get("user", user)
    if variant:
        version += f"+{provider_kind}"
    if use_overrides:
        from .models import PromptOverride

        override = PromptOverride.objects.active_for(template.name, template.version)
        if override is not None:
            system = override.system if override.system else system
            user = override.user if override.user else user
            version += f"+db{override.revision}"
    params = {k: v for k, v in template.defaults.items() if k in ("temperature", "max_tokens")}
    return RenderedPrompt(template=template, system=_fill(system, variables), user=_fill(user, variables),
                          version=version, params=params)


def render_text(system: str, user: str, variables: dict, *, name: str = "custom") -> RenderedPrompt:
    """Fill a user's own template (variables are whatever it uses)."""
    declared = sorted(used_variables(system, user))
    missing = [v for v in declared if v not in variables]
    if missing:
        raise TemplateError(f"Fill in: {', '.join(missing)}.")
    template = PromptTemplate(name=name, version=0, system=system, user=user, variables=declared)
    return RenderedPrompt(template=template, system=_fill(system, variables), user=_fill(user, variables),
                          version=f"user:{name}", params={})


def archive_for_run(run_id: str, rendered: RenderedPrompt) -> str:
    """Keep the exact template a run used, once per run, beside its interaction files."""
    from .records import write_prompt_archive

    t = rendered.template
    body = f"# {t.key} ({rendered.version})\n# source: {t.source}\n\n[system]\n{t.system}\n\n[user]\n{t.user}\n"
    return write_prompt_archive(run_id, f"{t.name}_prompt", body)
