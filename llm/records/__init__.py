"""Records and money: what every call leaves behind and what it cost.

The query log's write path (dblog.py), the interaction files (interactions.py, written in the
background by interaction_writer.py, stored where storage.py says), prices and charges
(pricing.py), the daily rollups (rollups.py) and the usage queries and CSV export behind the
dashboard (usage.py, csv_export.py). Other parts import from here.
"""

from . import csv_export, dblog, interaction_writer, interactions, pricing, rollups, usage
from .csv_export import csv_lines, safe_cell
from .dblog import log_write
from .interactions import new_run_id, write_prompt_archive
from .pricing import QUANTUM, PriceError, charge_for, check_tiers, cost_for, max_cost_for, sync_bundled_prices, sync_price_file
from .storage import interaction_storage, s3_storage
