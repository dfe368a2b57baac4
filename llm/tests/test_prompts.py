"""Prompt templates: files, variables checked at load, variants, env and database overrides, archives."""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from llm.records import interactions
from llm import prompts
from llm.models import PromptOverride
from llm.prompts import TemplateError, parse_file, render

SEED_EXAMPLES = ["character_background_v0", "equipment_suggestions_v0", "spell_recommendations_v0", "character_portrait_v0"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    prompts.load_all.cache_clear()
    yield
    prompts.load_all.cache_clear()


def test_every_shipped_template_loads_and_the_seed_examples_are_there():
    templates = prompts.load_all()
    for key in SEED_EXAMPLES:
        assert key in templates
    assert templates["character_portrait_v0"].kind == "image"
    assert prompts.problems() == []


def test_a_template_using_an_undefined_variable_fails_naming_file_and_variable(tmp_path):
    bad = tmp_path / "greeting_v1.yaml"
    bad.write_text("variables: [name]\nuser: 'Hello {{ name }}, welcome to {{ place }}'\n")
    with pytest.raises(TemplateError) as info:
        parse_file(bad)
    assert "greeting_v1.yaml" in str(info.value) and "place" in str(info.value)


def test_the_system_check_fails_startup_on_a_bad_template(tmp_path, settings):
    (tmp_path / "broken_v0.yaml").write_text("variables: []\nuser: '{{ missing_one }}'\n")
    settings.LLM_PROMPT_DIRS = [str(tmp_path)]
    with pytest.raises(SystemCheckError, match="missing_one"):
        call_command("check")


@pytest.mark.parametrize("content,needle", [
    ("user: [unclosed", "not valid YAML"),
    ("variables: []\n", "`user:`"),
    ("variables: []\nuser: hi\nsurprise: 1\n", "unknown key"),
    ("variables: []\nuser: hi\nvariants:\n  openai:\n    temperature: 1\n", "may only set"),
])
def test_malformed_templates_are_explained(tmp_path, content, needle):
    path = tmp_path / "thing_v0.yaml"
    path.write_text(content)
    with pytest.raises(TemplateError, match=needle):
        parse_file(path)


def test_file_names_must_carry_the_version(tmp_path):
    path = tmp_path / "noversion.yaml"
    path.write_text("user: hi\n")
    with pytest.raises(TemplateError, match="_v<version>"):
        parse_file(path)


@pytest.mark.django_db
def test_rendering_fills_variables_and_uses_the_provider_variant():
    values = {"character_name": "Mira", "race": "elf", "character_class": "ranger", "alignment": "neutral good",
              "setting": "the Shattered Coast"}
    plain = render("character_background", values)
    assert "Mira, a elf ranger" in plain.user and plain.version == "character_background_v0"
    assert plain.params == {"temperature": 0.8, "max_tokens": 700}
    claude = render("character_background", values, provider_kind="anthropic")
    assert claude.system.startswith("You write character backgrounds") and claude.version.endswith("+anthropic")
    with pytest.raises(TemplateError, match="needs a value for: setting"):
        render("character_background", {k: v for k, v in values.items() if k != "setting"})


def test_an_environment_override_file_is_merged(tmp_path, settings):
    (tmp_path / "hello_v2.yaml").write_text("variables: [who]\nsystem: base system\nuser: 'Hi {{ who }}'\n")
    (tmp_path / "hello_v2.production.yaml").write_text("system: production system\n")
    settings.LLM_PROMPT_ENV = "production"
    t = parse_file(tmp_path / "hello_v2.yaml")
    assert t.system == "production system" and t.user == "Hi {{ who }}"


@pytest.mark.django_db
def test_a_database_override_is_versioned_validated_and_keeps_history(owner):
    values = {"character_class": "wizard", "level": 3, "party_role": "control", "known_spells": "light"}
    first = PromptOverride.objects.create(name="spell_recommendations", template_version=0,
                                          user="Five spells for a {{ character_class }} at level {{ level }}.")
    rendered = render("spell_recommendations", values)
    assert rendered.user == "Five spells for a wizard at level 3." and rendered.version.endswith("+db1")
    first.active = False
    first.save()
    second = PromptOverride.objects.create(name="spell_recommendations", template_version=0, user="Spells please, {{ level }}")
    assert second.revision == 2 and PromptOverride.objects.count() == 2
    assert render("spell_recommendations", values).version.endswith("+db2")
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="undefined variable"):
        PromptOverride(name="spell_recommendations", template_version=0, user="{{ nope }}").full_clean()


@pytest.mark.django_db
def test_the_template_a_run_used_is_archived_once_per_run():
    run_id = interactions.new_run_id()
    rendered = render("spell_recommendations", {"character_class": "cleric", "level": 1, "party_role": "healer", "known_spells": "-"})
    path = prompts.archive_for_run(run_id, rendered)
    assert path == f"llm_logs/{run_id}/prompts/spell_recommendations_prompt.txt"
    assert prompts.archive_for_run(run_id, rendered) == path  # once per run
    assert b"{{ character_class }}" in interactions.read(path)


@pytest.mark.django_db
def test_a_template_with_a_schema_returns_a_parsed_object(providers, fake, owner, celery_eager, django_capture_on_commit_callbacks):
    from llm.calls import create_job
    from llm.testing.fake_provider import Reply

    fake.script(Reply(json={"items": [{"name": "Rope", "cost_gold": 1, "reason": "climbing"}]}))
    rendered = render("equipment_suggestions", {"character_class": "rogue", "level": 1, "budget_gold": 50, "play_style": "stealthy"},
                      provider_kind="openai")
    with django_capture_on_commit_callbacks(execute=True):
        job = create_job(user=owner, provider=providers["openai"], model_name="gpt-4o-mini", prompt=rendered.user,
                         system_prompt=rendered.system, template_version=rendered.version)
    job.refresh_from_db()
    assert job.status == "completed" and '"Rope"' in job.result_text
    assert fake.requests[-1].body["response_format"]["type"] == "json_schema"
