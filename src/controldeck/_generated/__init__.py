"""Models generated from ``openapi/<platform>.yaml``, one module per platform.

Every module in this package except this one is written by ``make generate``
(``codegen/generate.py``) and must not be edited by hand: change the spec or the templates in
``codegen/`` and regenerate. ``make test`` fails when a committed module differs from what
the generator produces.
"""
