from django.core import checks


@checks.register()
def prompt_templates(app_configs=None, **kwargs):
    """A template using an undefined variable stops `manage.py check`, runserver and migrate."""
    from .prompts import problems

    return [checks.Error(problem, id="llm.E001", hint="Fix the template file named in the message.") for problem in problems()]
