"""File-name patterns with date tokens, such as ``{org}_changed_constituents_{YYYYMMDD}.csv``."""

from __future__ import annotations

import re
from datetime import date

DEFAULT_PATTERN = "{org}_changed_constituents_{YYYYMMDD}.csv"

_TOKENS = {
    "YYYYMMDD": r"(?P<Y>\d{4})(?P<M>\d{2})(?P<D>\d{2})",
    "YYYY-MM-DD": r"(?P<Y>\d{4})-(?P<M>\d{2})-(?P<D>\d{2})",
    "YYMMDD": r"(?P<y>\d{2})(?P<M>\d{2})(?P<D>\d{2})",
    "YYYY": r"(?P<Y>\d{4})",
    "YY": r"(?P<y>\d{2})",
    "MM": r"(?P<M>\d{2})",
    "DD": r"(?P<D>\d{2})",
}
_TOKEN = re.compile(r"\{([^{}]*)\}")


class FilePattern:
    """A file-name pattern: ``{org}`` (or ``{shortname}``) is the site's short name, the date tokens
    ``{YYYYMMDD}``, ``{YYYY-MM-DD}``, ``{YYMMDD}`` or ``{YYYY}``/``{YY}`` with ``{MM}`` and ``{DD}`` give
    the file's date, and ``{*}`` matches anything. Matching ignores case, as FTP servers differ."""

    def __init__(self, pattern: str, *, org: str = "") -> None:
        self.pattern = pattern
        parts: list[str] = []
        used: set[str] = set()
        position = 0
        for token in _TOKEN.finditer(pattern):
            parts.append(re.escape(pattern[position : token.start()]))
            name = token.group(1)
            if name in ("org", "shortname"):
                parts.append(re.escape(org) if org else r"[^/]+?")
            elif name == "*":
                parts.append(r"[^/]*?")
            elif name in _TOKENS:
                groups = set(re.findall(r"\?P<(\w)>", _TOKENS[name]))
                if groups & used:
                    raise ValueError(f"The file name pattern {pattern!r} repeats a date part in {{{name}}}.")
                used |= groups
                parts.append(_TOKENS[name])
            else:
                known = ", ".join(f"{{{t}}}" for t in ("org", "shortname", "*", *_TOKENS))
                raise ValueError(
                    f"The file name pattern {pattern!r} has an unknown token {{{name}}}; known: {known}."
                )
            position = token.end()
        parts.append(re.escape(pattern[position:]))
        if not ({"Y", "y"} & used and {"M", "D"} <= used):
            raise ValueError(
                f"The file name pattern {pattern!r} needs a date token such as {{YYYYMMDD}}, so files can be "
                "taken oldest first."
            )
        if "/" in pattern:
            raise ValueError(
                f"The file name pattern {pattern!r} must not contain a folder; set the folder apart."
            )
        self._regex = re.compile("".join(parts), re.IGNORECASE)

    def date_of(self, name: str) -> date | None:
        """The date in ``name`` if it matches the pattern (and is a real date), else ``None``."""
        match = self._regex.fullmatch(name)
        if match is None:
            return None
        found = match.groupdict()
        year = int(found["Y"]) if found.get("Y") else 2000 + int(found["y"])
        try:
            return date(year, int(found["M"]), int(found["D"]))
        except ValueError:
            return None

    def __repr__(self) -> str:
        return f"FilePattern({self.pattern!r})"
