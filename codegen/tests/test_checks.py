"""The checks each generated file passes (or fails) before it is offered."""

import json

from codegen.checks import check_file, check_imports, strip_jsonc


def test_python_must_parse():
    assert check_file("backend/main.py", "import os\n").status == "ok"
    result = check_file("backend/main.py", "def broken(:\n")
    assert result.status == "failed" and "line 1" in result.message


def test_json_toml_and_yaml_must_parse():
    assert check_file("a/data.json", '{"a": 1}').status == "ok"
    assert check_file("a/data.json", '{"a": 1,}').status == "failed"
    assert check_file("pyproject.toml", '[project]\nname = "x"\n').status == "ok"
    assert "Invalid TOML" in check_file("pyproject.toml", "[project\n").message
    assert check_file("docker-compose.yml", "services:\n  web: {}\n").status == "ok"
    assert check_file("ci.yaml", "a: [1, 2\n").status == "failed"


def test_tsconfig_may_have_comments_and_trailing_commas():
    text = '{\n  // comment with "quotes"\n  "a": "http://x/*not a comment*/", /* block */\n  "b": [1,],\n}'
    assert json.loads(strip_jsonc(text)) == {"a": "http://x/*not a comment*/", "b": [1]}
    assert check_file("frontend/tsconfig.node.json", text).status == "ok"


def test_package_json_needs_what_a_build_needs():
    good = {"name": "x", "version": "1.0.0", "scripts": {"dev": "vite"}, "dependencies": {"react": "^18"}}
    assert check_file("frontend/package.json", json.dumps(good)).status == "ok"
    bad = check_file("frontend/package.json", json.dumps({"name": "x", "scripts": {"test": "jest"}}))
    assert bad.status == "failed"
    assert '"version" is missing' in bad.message and '"build" or "dev"' in bad.message
    assert '"dependencies" is missing' in bad.message
    assert check_file("frontend/package.json", "[1]").status == "failed"


def test_other_files_are_not_checked():
    assert check_file("frontend/src/App.tsx", "<<<").status == "skipped"
    assert check_file("Dockerfile", "FROM x").status == "skipped"


def test_imports_between_generated_files_resolve():
    files = {
        "backend/__init__.py": "",
        "backend/main.py": "from backend.routers import cars\nfrom backend.config import settings\nimport fastapi\n",
        "backend/config.py": "settings = 1\n",
        "backend/routers/cars.py": "from ..services.car_service import list_cars\nfrom . import helpers\n",
        "backend/routers/helpers.py": "",
        "backend/services/car_service.py": "from models.car import Car\nimport os, sqlalchemy\n",
        "backend/models/car.py": "from pydantic import BaseModel\n",
    }
    assert check_imports(files) == {}


def test_missing_project_imports_are_named():
    files = {
        "backend/main.py": "from backend.routers import users\nfrom backend.missing import x\nimport requests\n",
        "backend/routers/cars.py": "from .nothere import y\nfrom .... import too_far\n",
        "backend/app.py": "from utils.db import session\n",
        "backend/utils/logger.py": "",
    }
    problems = check_imports(files)
    assert set(problems) == {"backend/main.py", "backend/routers/cars.py", "backend/app.py"}
    assert "from backend.routers import users" not in problems["backend/main.py"]  # routers exists
    assert "from backend.missing import x" in problems["backend/main.py"]
    assert "requests" not in problems["backend/main.py"]  # third party: not judged
    assert "from .nothere import y" in problems["backend/routers/cars.py"]
    assert "from .... import too_far" in problems["backend/routers/cars.py"]
    assert "from utils.db import session" in problems["backend/app.py"]


def test_stdlib_names_are_never_taken_for_project_packages():
    files = {"backend/logging.py": "", "backend/main.py": "import logging.handlers\nimport json\n"}
    assert check_imports(files) == {}
