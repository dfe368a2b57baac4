"""The eleven steps of seed 003, their phases, and their prompt templates."""

from dataclasses import dataclass

from ..prompting import render, template  # noqa: F401  (llm templates codegen.<name>; the stages import them from here)

SYSTEM_PROMPT = "system_v0"
CONTINUATION_PROMPT = "continuation_v0"
REPAIR_PROMPT = "repair_v0"
EMPTY_RETRY_PROMPT = "empty_retry_v0"
IMPORT_REPAIR_PROMPT = "import_repair_v0"
TAIL_CHARS = 400


@dataclass(frozen=True)
class StepSpec:
    key: str
    title: str
    prompt: str
    phase: str
    intro: str = ""  # sub-steps: "Generating core application files..."
    label: str = ""  # "✓ Generated 3 core files"


STEPS = [
    StepSpec("1", "Architecture analysis", "step_1_architecture_v0", "1"),
    StepSpec("2", "Database schema", "step_2_database_v0", "2", label="schema"),
    StepSpec("3.1", "Backend core", "step_3_1_backend_core_v0", "3", "Generating core application files...", "core"),
    StepSpec("3.2", "Backend models and schemas", "step_3_2_backend_models_v0", "3",
             "Generating data models and schemas...", "model"),
    StepSpec("3.3", "Backend API routes", "step_3_3_backend_routes_v0", "3", "Generating API route handlers...", "route"),
    StepSpec("3.4", "Backend middleware and utilities", "step_3_4_backend_utils_v0", "3",
             "Generating middleware and utilities...", "utility"),
    StepSpec("4.1", "Frontend setup", "step_4_1_frontend_setup_v0", "4", "Generating project setup files...", "setup"),
    StepSpec("4.2", "Frontend core", "step_4_2_frontend_core_v0", "4", "Generating core application structure...", "core"),
    StepSpec("4.3", "Frontend pages", "step_4_3_frontend_pages_v0", "4", "Generating page components...", "page"),
    StepSpec("4.4", "Frontend components", "step_4_4_frontend_components_v0", "4",
             "Generating UI components and utilities...", "component"),
    StepSpec("5", "Configuration and deployment", "step_5_configuration_v0", "5", label="configuration"),
]
SPECS = {s.key: s for s in STEPS}
STEP_KEYS = [s.key for s in STEPS]
PHASES = {
    "1": ("ARCHITECTURE ANALYSIS", "Architecture planned"),
    "2": ("DATABASE SCHEMA GENERATION", "Database schema generated"),
    "3": ("BACKEND API GENERATION (Multi-phase)", "Backend API generated"),
    "4": ("FRONTEND COMPONENTS (Multi-phase)", "Frontend generated"),
    "5": ("CONFIGURATION FILES", "Configuration generated"),
}
RULE = "=" * 40


class StepFailed(Exception):
    pass


class StepHeld(Exception):
    """Another worker holds a step of this run (its claim is fresh): try again later."""


