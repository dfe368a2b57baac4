"""Checks a generated file must pass before it is offered.

Per file: Python parses (``ast``), JSON (JSONC for tsconfig) and TOML parse, YAML parses,
``package.json`` has what a build needs. Across the project: imports between generated Python
files resolve. Only imports that point into the project's own top-level packages are judged;
third-party and standard-library imports are left alone.
"""

import ast
import json
import posixpath
import re
import sys
import tomllib
from dataclasses import dataclass

import yaml

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclass
class CheckResult:
    status: str
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAILED


def check_file(path: str, content: str) -> CheckResult:
    name = posixpath.basename(path).lower()
    ext = posixpath.splitext(name)[1]
    try:
        if ext in (".py", ".pyi"):
            ast.parse(content, filename=path)
            return CheckResult(OK, "Python parses.")
        if name == "package.json":
            return _check_package_json(content)
        if ext == ".json" and _is_jsonc(name):
            json.loads(strip_jsonc(content))
            return CheckResult(OK, "JSON (with comments) parses.")
        if ext == ".json":
            json.loads(content)
            return CheckResult(OK, "JSON parses.")
        if ext == ".toml":
            tomllib.loads(content)
            return CheckResult(OK, "TOML parses.")
        if ext in (".yml", ".yaml"):
            list(yaml.safe_load_all(content))
            return CheckResult(OK, "YAML parses.")
    except SyntaxError as exc:
        return CheckResult(FAILED, f"Python syntax error at line {exc.lineno}: {exc.msg}")
    except json.JSONDecodeError as exc:
        return CheckResult(FAILED, f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
    except tomllib.TOMLDecodeError as exc:
        return CheckResult(FAILED, f"Invalid TOML: {exc}")
    except yaml.YAMLError as exc:
        return CheckResult(FAILED, f"Invalid YAML: {str(exc)[:300]}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return CheckResult(FAILED, f"Could not parse the file: {exc}")
    return CheckResult(SKIPPED, f"No check for {ext or 'files without an extension'}.")


def _is_jsonc(name: str) -> bool:
    return name.startswith("tsconfig") or name in ("jsconfig.json", ".eslintrc.json", "devcontainer.json") or name.endswith(".jsonc")


_JSONC_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
_TRAILING_COMMA = re.compile(r'("(?:\\.|[^"\\])*")|,(\s*[}\]])')


def strip_jsonc(text: str) -> str:
    """JSON with comments and trailing commas (tsconfig) turned into plain JSON."""
    no_comments = _JSONC_TOKENS.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)
    return _TRAILING_COMMA.sub(lambda m: m.group(1) if m.group(1) else m.group(2), no_comments)


def _check_package_json(content: str) -> CheckResult:
    data = json.loads(content)
    if not isinstance(data, dict):
        return CheckResult(FAILED, "package.json must be a JSON object.")
    problems = []
    for field in ("name", "version"):
        if not isinstance(data.get(field), str) or not data.get(field):
            problems.append(f'"{field}" is missing')
    scripts = data.get("scripts")
    if not isinstance(scripts, dict) or not ({"build", "dev"} & set(scripts)):
        problems.append('"scripts" needs a "build" or "dev" script')
    deps = data.get("dependencies")
    if not isinstance(deps, dict) or not deps:
        problems.append('"dependencies" is missing or empty')
    elif not all(isinstance(v, str) for v in deps.values()):
        problems.append('"dependencies" versions must be strings')
    if problems:
        return CheckResult(FAILED, "package.json: " + "; ".join(problems) + ".")
    return CheckResult(OK, "package.json parses and has name, version, scripts and dependencies.")


# ---- imports across generated Python files -------------------------------------------------

class _Project:
    def __init__(self, paths):
        self.files = {p for p in paths if p.endswith(".py")}
        self.dirs = set()
        for p in paths:
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                self.dirs.add("/".join(parts[:i]))

    def module_exists(self, root: str, dotted: str) -> bool:
        rel = dotted.replace(".", "/")
        base = f"{root}/{rel}" if root else rel
        return f"{base}.py" in self.files or base in self.dirs

    def top_level_names(self, root: str) -> set[str]:
        prefix = f"{root}/" if root else ""
        names = set()
        for p in self.files:
            if p.startswith(prefix):
                first = p[len(prefix):].split("/")[0]
                names.add(first[:-3] if first.endswith(".py") else first)
        return names - set(sys.stdlib_module_names) - {"__init__"}


def _roots_for(path: str) -> list[str]:
    """Folders an import in ``path`` may be resolved from: the project root and each ancestor."""
    parts = path.split("/")[:-1]
    return [""] + ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def check_imports(files: dict[str, str], only: set[str] | None = None) -> dict[str, str]:
    """{path: problem} for Python files whose own-project imports do not resolve."""
    project = _Project(files.keys())
    tops = {root: project.top_level_names(root) for root in project.dirs | {""}}
    problems: dict[str, str] = {}
    for path, content in sorted(files.items()):
        if not path.endswith(".py") or (only is not None and path not in only):
            continue
        try:
            tree = ast.parse(content)
        except (SyntaxError, ValueError, RecursionError):
            continue  # reported by check_file
        missing = []
        for node in ast.walk(tree):
            for target in _import_targets(node, path):
                if target is None:
                    continue
                kind, name = target
                if kind == "relative":
                    if name is None or not _relative_ok(project, name):
                        missing.append(_describe(node))
                    continue
                first = name.split(".")[0]
                roots = [r for r in _roots_for(path) if first in tops.get(r, set())]
                if roots and not any(project.module_exists(r, name) for r in roots):
                    missing.append(_describe(node))
        if missing:
            unique = list(dict.fromkeys(missing))
            problems[path] = "Imports not provided by any generated file: " + "; ".join(unique[:10])
    return problems


def _import_targets(node, path):
    """("absolute", dotted) or ("relative", module path without .py | None) for an import node."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield ("absolute", alias.name)
    elif isinstance(node, ast.ImportFrom):
        if node.level == 0:
            if node.module:
                yield ("absolute", node.module)
            return
        package = path.split("/")[:-1]
        up = node.level - 1
        if up > len(package):
            yield ("relative", None)
            return
        base = package[: len(package) - up] if up else package
        if node.module:
            yield ("relative", "/".join(base + node.module.split(".")))
        else:
            for alias in node.names:
                # `from . import x`: x is a submodule, or a name in the package's __init__.py.
                yield ("relative", ("/".join(base + [alias.name]), "/".join(base)))


def _relative_ok(project: _Project, target) -> bool:
    if isinstance(target, tuple):
        module, package = target
        init = f"{package}/__init__.py" if package else "__init__.py"
        return f"{module}.py" in project.files or module in project.dirs or init in project.files
    return f"{target}.py" in project.files or target in project.dirs


def _describe(node) -> str:
    if isinstance(node, ast.Import):
        return "import " + ", ".join(a.name for a in node.names)
    return f"from {'.' * node.level}{node.module or ''} import " + ", ".join(a.name for a in node.names)
