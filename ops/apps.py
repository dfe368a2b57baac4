from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self):
        from django.core.checks import register

        from .checks import check_visibility_timeout

        register(check_visibility_timeout)

        from . import celery_signals

        celery_signals.connect()  # request id into tasks; workers log through settings.LOGGING
