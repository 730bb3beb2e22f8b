"""Run a script with an older revision of entrgi: ``PYTHONPATH=<copy> python bench/speed/isolated.py SCRIPT ARGS``.

An editable install of entrgi registers a finder that maps its packages (``entrgi.engine``,
``entrgi.testbed``, ...) to the working tree, ahead of PYTHONPATH for those names, so a copy of an older
revision on PYTHONPATH would silently run parts of the new code. This removes that finder first.
<copy> holds ``entrgi/`` (the revision's ``src/entrgi``) with its ``conf/`` copied in as ``entrgi/conf``.
"""

import runpy
import sys

sys.meta_path = [f for f in sys.meta_path if "editable" not in (getattr(f, "__module__", "") + repr(f)).lower()]
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
