"""The run folder's format, with one owner: its file names (``files.py``), whole-file writes (``atomic.py``),
JSONL reading with one torn-last-line policy (``jsonl.py``), the records and their shards
(``records.py``, ``generations.py``), ``metrics.json`` (``metrics.py``, with ``identity.py`` and
``compute.py``), ``config.yaml`` and ``run_info.json`` (``settings.py``). The pipeline writes run
folders and the analysis reads them, both through this package only."""
