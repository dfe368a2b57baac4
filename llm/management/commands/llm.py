"""``manage.py llm ping|complete|sync-prices|providers``: the llm service from a shell."""

import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from llm.bootstrap import ensure_defaults
from llm.errors import LLMError, ManualAnswerPending
from llm.models import LLMProvider
from llm.providers import client_for, default_provider, get_provider, provider_statuses
from llm.calls import complete


class Command(BaseCommand):
    help = "Talk to the configured LLM providers: ping, complete, sync-prices, providers."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{ping,complete,sync-prices,providers,repair-interactions,rebuild-rollups}")
        ping = sub.add_parser("ping", help="Test the connection to a provider (all enabled ones by default).")
        ping.add_argument("--provider", help="Provider name (see `llm providers`).")
        comp = sub.add_parser("complete", help="Send one prompt and print the answer, tokens, cost and log file.")
        comp.add_argument("prompt")
        comp.add_argument("--model", required=True)
        comp.add_argument("--provider")
        comp.add_argument("--system")
        comp.add_argument("--max-tokens", type=int)
        comp.add_argument("--temperature", type=float)
        comp.add_argument("--user", help="Username to attribute the call to.")
        sync = sub.add_parser("sync-prices", help="Load the bundled price list, or --from a file (rows edited in admin are kept).")
        sync.add_argument("--from", dest="from_file", metavar="FILE",
                          help="A price file: this project's format (llm/data/prices.json) or LiteLLM's "
                               "model_prices_and_context_window.json; the format is detected.")
        sub.add_parser("providers", help="List providers and whether each is configured.")
        sub.add_parser("repair-interactions", help="Store the interaction files and apply the final row updates "
                       "left in the journals of processes that died before writing them "
                       "(llm/records/interaction_writer.py).")
        rb = sub.add_parser("rebuild-rollups", help="Recompute the daily usage rollup from the logged calls.")
        rb.add_argument("--start", help="YYYY-MM-DD (default: all days)")
        rb.add_argument("--end", help="YYYY-MM-DD")

    def handle(self, *args, action, **opts):
        return getattr(self, "handle_" + action.replace("-", "_"))(**opts)

    def handle_providers(self, **opts):
        default = default_provider()
        for s in provider_statuses():
            p = s["provider"]
            mark = "configured" if s["configured"] else f"NOT configured: {s['problem']}"
            star = " (default)" if p.pk == default.pk else ""
            self.stdout.write(f"{p.name:<12} {p.kind:<18} {mark}{star}")

    def handle_rebuild_rollups(self, start=None, end=None, **opts):
        from datetime import date

        from llm.records.rollups import rebuild

        try:
            n = rebuild(date.fromisoformat(start) if start else None, date.fromisoformat(end) if end else None)
        except ValueError as exc:
            raise CommandError(f"Dates are YYYY-MM-DD: {exc}") from None
        self.stdout.write(f"Rollup rebuilt: {n} rows.")

    def handle_repair_interactions(self, **opts):
        from llm.records.interaction_writer import journal_dir, repair

        done = repair()
        self.stdout.write(f"Journals in {journal_dir()}: {done}.")

    def handle_sync_prices(self, from_file=None, **opts):
        result = ensure_defaults()
        if from_file:
            from llm.records import PriceError, sync_price_file

            try:
                result = sync_price_file(from_file)
            except PriceError as exc:
                raise CommandError(f"Nothing was changed: {exc}") from None
            self.stdout.write(f"Read {from_file} as {'a LiteLLM price file' if result['format'] == 'litellm' else 'this project’s price list'}"
                              + (f" ({result['skipped_entries']} entries of other providers or kinds skipped)." if result["skipped_entries"] else "."))
        self.stdout.write(
            f"Prices: {result['created']} models created, {result['updated']} updated, "
            f"{result['kept_admin_edits']} kept as edited in admin, {result['retired']} marked retired."
        )

    def handle_ping(self, provider=None, **opts):
        targets = [get_provider(provider)] if provider else list(LLMProvider.objects.filter(enabled=True))
        if not targets:
            raise CommandError("No providers. Run `manage.py llm sync-prices` to create the defaults.")
        failed = 0
        for p in targets:
            problem = p.configuration_problem()
            if problem:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{p.name}: {problem}"))
                continue
            try:
                self.stdout.write(self.style.SUCCESS(f"{p.name}: OK — {client_for(p).ping()}"))
            except LLMError as exc:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{p.name}: FAILED — {exc}"))
        if failed:
            raise CommandError(f"{failed} of {len(targets)} provider(s) failed.")

    def handle_complete(self, prompt, model, provider=None, system=None, max_tokens=None, temperature=None, user=None, **opts):
        user_obj = None
        if user:
            user_obj = get_user_model().objects.filter(username=user).first()
            if user_obj is None:
                raise CommandError(f"No user named {user!r}.")
        try:
            result = complete(
                purpose="llm.cli", prompt=prompt, system=system, model=model, provider=provider,
                max_tokens=max_tokens, temperature=temperature, user=user_obj,
            )
        except ManualAnswerPending as pending:
            self.stdout.write(str(pending))
            self.stdout.write(f"Open http://127.0.0.1:8000/llm/manual/{pending.query_id}/ to paste the answer.")
            return
        except LLMError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(result.text)
        cost = "unknown (no price for this model)" if result.cost_usd is None else f"${result.cost_usd}"
        u = result.usage
        self.stderr.write(
            f"\n--\nprovider: {result.provider}  model: {result.model}  query: #{result.query_id}  attempts: {result.attempts}\n"
            f"tokens: {u.input_tokens} in ({u.cached_input_tokens} cached), {u.output_tokens} out "
            f"({u.reasoning_tokens} reasoning)\ncost: {cost}  latency: {result.latency_ms} ms\nlog file: {result.file_path}"
        )
        sys.stdout.flush()
