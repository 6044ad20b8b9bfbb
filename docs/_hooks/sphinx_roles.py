"""griffe extension (loaded by mkdocstrings): Sphinx cross-reference roles in docstrings as code.

hwnas's docstrings are plain prose that name other objects with roles such as :func:`profile_configs` or
:class:`StaticViT`. Markdown knows no roles and would print them verbatim, so each becomes a code span
of the name as Sphinx shows it: ``~a.b`` as ``b``, a relative ``.a.b`` as ``a.b``, ``title <target>`` as
``title``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`([^`]+)`")


def _shown(target: str) -> str:
    titled = re.fullmatch(r"(.+?)\s*<[^>]+>", target)
    if titled:
        return titled.group(1)
    if target.startswith("~"):
        return target.rsplit(".", 1)[-1]
    return target.lstrip(".")


def plain_roles(text: str) -> str:
    """``text`` with every role replaced by a code span of the name it shows."""
    return ROLE.sub(lambda m: f"``{_shown(m.group(1))}``", text)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)
