"""Turn a response tree into Luminate's XML or its mechanical JSON translation, quirks included."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from xml.sax.saxutils import escape

from .config import Quirks

NAMESPACE = "http://convio.com/crm/v1.0"
SCHEMA_LOCATION = "http://convio.com/crm/v1.0 http://service.convio.net/xmlschema/crm.public.v1.xsd"


class Renderer:
    def __init__(self, quirks: Quirks, utc_offset_minutes: int) -> None:
        self.quirks = quirks
        self.tz = timezone(timedelta(minutes=utc_offset_minutes))

    def _date(self, value: date) -> str:
        if not self.quirks.date_format:
            return value.isoformat()
        # xsd:date with the site's offset, the shape clients call "badly formed": 1980-05-04-05:00
        offset = self.tz.utcoffset(None)
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        minutes = abs(minutes)
        return f"{value.isoformat()}{sign}{minutes // 60:02d}:{minutes % 60:02d}"

    def _datetime(self, value: datetime) -> str:
        return value.astimezone(self.tz).isoformat(timespec="milliseconds")

    def _scalar_text(self, value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return self._datetime(value)
        if isinstance(value, date):
            return self._date(value)
        return str(value)

    # ----- JSON -----

    def _json_value(self, value):
        q = self.quirks
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if item is None and not q.null_vs_absent:
                    continue
                if isinstance(item, list) and not item and q.collapse_lists:
                    continue
                out[key] = self._json_value(item)
            return out
        if isinstance(value, list):
            items = [self._json_value(v) for v in value]
            if q.collapse_lists and len(items) == 1:
                return items[0]
            return items
        if value is None:
            return None
        if isinstance(value, str):
            if value == "" and q.empty_text_as_object:
                return {}
            return value
        if isinstance(value, bool):
            return ("true" if value else "false") if q.string_scalars else value
        if isinstance(value, int | float):
            return str(value) if q.string_scalars else value
        return self._scalar_text(value)

    def json(self, root: str, payload) -> bytes:
        return json.dumps(
            {root: self._json_value(payload)}, ensure_ascii=False, separators=(",", ":")
        ).encode()

    # ----- XML -----

    def _xml_into(self, parts: list[str], key: str, value) -> None:
        if isinstance(value, list):
            for item in value:
                self._xml_into(parts, key, item)
            return
        if value is None:
            if self.quirks.null_vs_absent:
                parts.append(f'<{key} xsi:nil="true"/>')
            return
        if isinstance(value, dict):
            parts.append(f"<{key}>")
            for k, v in value.items():
                self._xml_into(parts, k, v)
            parts.append(f"</{key}>")
            return
        text = self._scalar_text(value)
        if text == "":
            parts.append(f"<{key}/>")
        else:
            parts.append(f"<{key}>{escape(text)}</{key}>")

    def xml(self, root: str, payload) -> bytes:
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            f'<{root} xmlns="{NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:schemaLocation="{SCHEMA_LOCATION}">',
        ]
        if isinstance(payload, dict):
            for key, value in payload.items():
                self._xml_into(parts, key, value)
        else:
            parts.append(escape(self._scalar_text(payload)))
        parts.append(f"</{root}>")
        return "".join(parts).encode()
