"""A fake model that answers each codegen step with a small, consistent car-management project.

``DemoModel`` is a callable default reply for the fake provider server: it reads the prompt,
finds which step is asking (the step heading in the first user message), and answers that
step's files. Options make it cut an answer off, fail a step, slip in hostile paths, or send a
broken file that the repair call then fixes.
"""

import json
import re

from llm.testing.fake_provider import RecordedRequest, Reply

PLAN = {
    "summary": "Track cars and their owners.",
    "pages": [
        {"name": "Dashboard", "route": "/", "purpose": "Overview of the fleet"},
        {"name": "CarList", "route": "/cars", "purpose": "List and filter cars"},
    ],
    "components": [
        {"name": "Header", "purpose": "Top navigation"},
        {"name": "Button", "purpose": "Primary action button"},
    ],
    "api_endpoints": [
        {"method": "GET", "path": "/api/cars", "purpose": "List cars"},
        {"method": "POST", "path": "/api/cars", "purpose": "Create a car"},
    ],
    "database_tables": [{"name": "cars", "columns": ["id", "make", "model", "year", "owner_id"]}],
}


def f(path, content, purpose="demo file"):
    return {"path": path, "content": content, "purpose": purpose}


FILES = {
    "2": [
        f("database/schema.sql", "CREATE TABLE cars (id SERIAL PRIMARY KEY, make TEXT, model TEXT, year INT);\n"),
        f("database/seed.sql", "INSERT INTO cars (make, model, year) VALUES ('Volvo', 'V70', 2004);\n"),
        f("database/tables.json", json.dumps({"cars": ["id", "make", "model", "year"]}, indent=2)),
    ],
    "3.1": [
        f("backend/__init__.py", ""),
        f("backend/main.py", "from fastapi import FastAPI\n\nfrom backend.config import settings\n"
                             "from backend.routers import cars\n\napp = FastAPI(title=settings.app_name)\n"
                             "app.include_router(cars.router)\n"),
        f("backend/config.py", "from pydantic_settings import BaseSettings\n\n\nclass Settings(BaseSettings):\n"
                               "    app_name: str = 'cars'\n    database_url: str = 'sqlite:///./cars.db'\n\n\n"
                               "settings = Settings()\n"),
        f("backend/requirements.txt", "fastapi\nsqlalchemy\npydantic-settings\nuvicorn\n"),
    ],
    "3.2": [
        f("backend/models/__init__.py", ""),
        f("backend/models/car.py", "from sqlalchemy import Column, Integer, String\n\n"
                                   "from backend.utils.database import Base\n\n\nclass Car(Base):\n"
                                   "    __tablename__ = 'cars'\n    id = Column(Integer, primary_key=True)\n"
                                   "    make = Column(String)\n"),
        f("backend/schemas/__init__.py", ""),
        f("backend/schemas/car.py", "from pydantic import BaseModel\n\n\nclass CarOut(BaseModel):\n    id: int\n"
                                    "    make: str\n"),
    ],
    "3.3": [
        f("backend/routers/__init__.py", ""),
        f("backend/routers/cars.py", "from fastapi import APIRouter\n\nfrom backend.schemas.car import CarOut\n"
                                     "from ..services.car_service import list_cars\n\n"
                                     "router = APIRouter(prefix='/api/cars')\n\n\n@router.get('', response_model=list[CarOut])\n"
                                     "def index():\n    return list_cars()\n"),
        f("backend/services/__init__.py", ""),
        f("backend/services/car_service.py", "from backend.models.car import Car\n\n\ndef list_cars():\n    return []\n"),
    ],
    "3.4": [
        f("backend/utils/__init__.py", ""),
        f("backend/utils/database.py", "from sqlalchemy.orm import declarative_base\n\nBase = declarative_base()\n"),
        f("backend/middleware/__init__.py", ""),
        f("backend/middleware/auth.py", "import jwt\n\n\ndef decode(token: str) -> dict:\n"
                                        "    return jwt.decode(token, 'secret', algorithms=['HS256'])\n"),
    ],
    "4.1": [
        f("frontend/package.json", json.dumps({
            "name": "cars-frontend", "version": "0.1.0", "private": True,
            "scripts": {"dev": "vite", "build": "tsc && vite build"},
            "dependencies": {"react": "^18.3.0", "react-dom": "^18.3.0", "react-router-dom": "^6.26.0"},
            "devDependencies": {"vite": "^5.4.0", "typescript": "^5.5.0"},
        }, indent=2)),
        f("frontend/tsconfig.json", '{\n  // Vite + React\n  "compilerOptions": {"strict": true, "jsx": "react-jsx",},\n'
                                    '  "include": ["src"]\n}\n'),
        f("frontend/vite.config.ts", "import { defineConfig } from 'vite'\nexport default defineConfig({})\n"),
        f("frontend/tailwind.config.js", "export default { content: ['./src/**/*.tsx'] }\n"),
        f("frontend/index.html", "<!doctype html><html><body><div id=\"root\"></div>"
                                 "<script type=\"module\" src=\"/src/main.tsx\"></script></body></html>\n"),
    ],
    "4.2": [
        f("frontend/src/main.tsx", "import React from 'react'\nimport { createRoot } from 'react-dom/client'\n"
                                   "import App from './App'\ncreateRoot(document.getElementById('root')!).render(<App />)\n"),
        f("frontend/src/App.tsx", "export default function App() { return <h1>Cars</h1> }\n"),
        f("frontend/src/services/apiClient.ts", "export const get = (url: string) => fetch(url).then(r => r.json())\n"),
    ],
    "4.3": [
        f("frontend/src/pages/Dashboard.tsx", "export default function Dashboard() { return <p>Fleet</p> }\n"),
        f("frontend/src/pages/CarList.tsx", "export default function CarList() { return <ul /> }\n"),
    ],
    "4.4": [
        f("frontend/src/components/layout/Header.tsx", "export const Header = () => <header>Cars</header>\n"),
        f("frontend/src/components/ui/Button.tsx", "export const Button = (p: any) => <button {...p} />\n"),
    ],
    "5": [
        f("README.md", "# Cars\n\nRun `docker compose up`.\n"),
        f(".env.example", "DATABASE_URL=postgresql://cars@db/cars\n"),
        f("docker-compose.yml", "services:\n  backend:\n    build: backend\n  frontend:\n    build: frontend\n"),
        f("backend/Dockerfile", "FROM python:3.12-slim\nCOPY . /app\n"),
        f("pyproject.toml", "[project]\nname = \"cars\"\nversion = \"0.1.0\"\n"),
    ],
}

STEP_HEADING = re.compile(r"^(?:STEP (1|2|5):|Step (3\.[1-4]|4\.[1-4]):)", re.MULTILINE)


def _text(content) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def step_of(req: RecordedRequest) -> str:
    users = [m for m in (req.body or {}).get("messages", []) if m.get("role") == "user"]
    match = STEP_HEADING.search(_text(users[0]["content"])) if users else None
    return (match.group(1) or match.group(2)) if match else ""


def last_user_text(req: RecordedRequest) -> str:
    users = [m for m in (req.body or {}).get("messages", []) if m.get("role") == "user"]
    return _text(users[-1]["content"]) if users else ""


def answer_for(key: str) -> dict:
    return PLAN if key == "1" else {"files": FILES[key]}


class DemoModel:
    """Callable default reply: ``fake.set_default(DemoModel(truncate={"3.3"}))``."""

    def __init__(self, *, truncate=(), fail=(), hostile=None, broken=None):
        self.truncate = set(truncate)  # steps whose first answer is cut off (then continued)
        self.fail = set(fail)  # steps that always get an answer that is not JSON
        self.hostile = hostile or {}  # step -> extra file dicts with bad paths
        self.broken = broken or {}  # step -> (path, broken content): fixed by the repair call
        self.seen: list[str] = []

    def __call__(self, req: RecordedRequest) -> Reply:
        last = last_user_text(req)
        if last.startswith("REPAIR: in the project"):
            # The end-of-run import repair: answer the named files as they should have been.
            paths = set(re.findall(r"^--- (\S+)$", last, re.M))
            self.seen.append("imports")
            return Reply(json={"files": [x for files in FILES.values() for x in files if x["path"] in paths]})
        key = step_of(req)
        self.seen.append(key)
        if key in self.fail:
            return Reply(text="I cannot help with that.")
        body = answer_for(key)
        full = json.dumps(body)
        if "continue exactly where you stopped" in last.lower():
            # The first answer was the full text cut at half (the fake server's truncation).
            return Reply(text=full[len(full) // 2:])
        if last.startswith("REPAIR:") and key in self.broken:
            path, _ = self.broken[key]
            fixed = next(x for x in FILES[key] if x["path"] == path)
            return Reply(json={"files": [fixed]})
        if key in self.broken:
            path, bad = self.broken[key]
            body = {"files": [dict(x, content=bad) if x["path"] == path else x for x in FILES[key]]}
        if key in self.hostile:
            body = {"files": list(body["files"]) + list(self.hostile[key])}
        if key in self.truncate:
            self.truncate.discard(key)
            return Reply(text=json.dumps(body), truncated=True)
        return Reply(json=body)


def total_demo_files() -> int:
    return sum(len(v) for v in FILES.values())
