"""For every case: a named stack behaviour that would make it `deviates`.

One module per area (``bind.py`` for bind.*), each with a ``DEVIATIONS`` dict
mapping case id -> [(behaviour, observation, params)]. test_deviations.py
feeds each observation through the verdict logic with the Linux expectations
and requires `deviates`; test_catalogue.py requires an entry for every case
id, so a case that cannot fail cannot land.
"""

from __future__ import annotations

import importlib
import pkgutil

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {}
for _mod in pkgutil.iter_modules(__path__):
    _rows = importlib.import_module(f"{__name__}.{_mod.name}").DEVIATIONS
    _clash = set(_rows) & set(DEVIATIONS)
    if _clash:
        raise ValueError(f"{_mod.name}.py repeats deviations for {sorted(_clash)}")
    DEVIATIONS.update(_rows)
