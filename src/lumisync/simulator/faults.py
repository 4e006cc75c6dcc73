"""Run-time fault injection for the HTTP API and the FTP servers."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

HTTP_KINDS = ("error", "http", "latency", "hang", "reset", "malformed")
MALFORMED_VARIANTS = ("truncated_json", "html_200", "wrong_content_type", "broken_xml")
FTP_KINDS = ("login", "tls_refused", "cut", "missing_file", "missing_manifest", "wrong_encoding")


@dataclass
class Rule:
    method: str | None
    kind: str
    count: int | None
    probability: float | None
    params: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "kind": self.kind,
            "count": self.count,
            "probability": self.probability,
            **self.params,
        }


def _validate_http(kind: str, params: dict) -> dict:
    if kind not in HTTP_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(HTTP_KINDS)}")
    out = dict(params)
    if kind == "error":
        if not isinstance(out.get("code"), int):
            raise ValueError(f"fault kind 'error' needs an integer code, got {out.get('code')!r}")
    elif kind == "http":
        out.setdefault("status", 503)
        out.setdefault("body", "html")
        if out["body"] not in ("html", "empty"):
            raise ValueError(f"fault kind 'http' takes body='html' or 'empty', got {out['body']!r}")
        if not isinstance(out["status"], int) or not 100 <= out["status"] <= 599:
            raise ValueError(f"fault kind 'http' needs a status 100-599, got {out['status']!r}")
    elif kind == "latency":
        out.setdefault("ms", 0)
        out.setdefault("jitter_ms", 0)
        if out["ms"] < 0 or out["jitter_ms"] < 0:
            raise ValueError(f"latency ms={out['ms']!r} and jitter_ms={out['jitter_ms']!r} must be >= 0")
    elif kind == "malformed":
        out.setdefault("variant", "truncated_json")
        if out["variant"] not in MALFORMED_VARIANTS:
            raise ValueError(
                f"unknown malformed variant {out['variant']!r}; known: {', '.join(MALFORMED_VARIANTS)}"
            )
    return out


class Faults:
    """Rules matched per API method (or all methods when method is None), scripted or probabilistic."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._rng = random.Random(seed)

    def inject(
        self,
        method: str | None,
        kind: str,
        *,
        count: int | None = None,
        probability: float | None = None,
        **params,
    ) -> None:
        if count is not None and count < 1:
            raise ValueError(f"fault count={count!r} must be >= 1")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError(f"fault probability={probability!r} must be between 0 and 1")
        rule = Rule(method, kind, count, probability, _validate_http(kind, params))
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict]:
        with self._lock:
            return [r.as_dict() for r in self._rules]

    def pick(self, method: str) -> tuple[float, Rule | None]:
        """(extra latency in seconds, the fault to apply or None) for one call."""
        delay = 0.0
        chosen = None
        with self._lock:
            for rule in list(self._rules):
                if rule.method is not None and rule.method != method:
                    continue
                if rule.kind != "latency" and chosen is not None:
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count == 0:
                        self._rules.remove(rule)
                if rule.kind == "latency":
                    delay += (rule.params["ms"] + self._rng.uniform(0, rule.params["jitter_ms"])) / 1000.0
                else:
                    chosen = rule
        return delay, chosen

    def jitter(self, jitter_ms: int) -> float:
        with self._lock:
            return self._rng.uniform(0, jitter_ms) / 1000.0


class FtpFaults:
    """FTP-side faults; each injected kind fires on its next `count` occasions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in FTP_KINDS:
            raise ValueError(f"unknown FTP fault kind {kind!r}; known: {', '.join(FTP_KINDS)}")
        if count < 1:
            raise ValueError(f"FTP fault count={count!r} must be >= 1")
        with self._lock:
            self._pending[kind] = self._pending.get(kind, 0) + count

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def consume(self, kind: str) -> bool:
        with self._lock:
            left = self._pending.get(kind, 0)
            if not left:
                return False
            if left == 1:
                del self._pending[kind]
            else:
                self._pending[kind] = left - 1
            return True

    def pending(self) -> dict[str, int]:
        with self._lock:
            return dict(self._pending)
