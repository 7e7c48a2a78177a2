"""Canonical payers and plan types for published payer and plan names.

Hospitals name the same insurer differently (`BLUE CROSS BLUE SHIELD [110001]`,
`BCBS HMO IP/OP ONLY`, `Blue_Cross_Blue_Shield_of_Texas`). A published name is *cleaned*
(bracketed and parenthesised ids dropped, lower case, `_` and punctuation to spaces), then
matched against the alias list `transform/data/payer_aliases.csv`: an alias matches when its
words occur, in order and adjacent, among the name's words; the match that starts earliest
wins, then the longest. Every alias names a payer of `transform/data/payers.csv`, which also
gives the payer's kind (commercial, medicare, medicaid, …) used for the plan type when the
plan name says nothing.

The mapping runs when the marts are built (on the few distinct payer/plan pairs), so an
edit of the alias file applies to every loaded file, old ones included, at the next build.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from importlib import resources

import polars as pl

PLAN_TYPES = (
    "commercial_ppo",
    "commercial_hmo",
    "commercial_epo",
    "commercial_pos",
    "commercial_other",
    "medicare_advantage",
    "medicare",
    "medicaid_managed_care",
    "medicaid",
    "exchange",
    "other",
    "unknown",
)
PAYER_KINDS = frozenset(
    {
        "commercial",
        "medicare",
        "medicare_advantage",
        "medicaid",
        "medicaid_managed_care",
        "government",
        "network",
        "other",
    }
)
#: Plan type of a payer's rates when the plan name names no line of business or network.
DEFAULT_PLAN_TYPE = {
    "commercial": "commercial_other",
    "medicare": "medicare",
    "medicare_advantage": "medicare_advantage",
    "medicaid": "medicaid",
    "medicaid_managed_care": "medicaid_managed_care",
    "government": "other",
    "network": "other",
    "other": "other",
}

_IDS = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_NOT_WORD = re.compile(r"[^a-z0-9]+")

# Plan-type evidence, searched in the cleaned plan name + payer name.
_EXCHANGE = re.compile(
    r"\b(exchange|marketplace|ambetter|aca|qhp|ifp|individual (and )?family|bronze|silver|"
    r"platinum|connector|covered california)\b"
)
_MEDICARE_ADVANTAGE = re.compile(
    r"\b(medicare advantage|mapd|ma (hmo|ppo|pffs)|d ?snp|c ?snp|snp|dual|duals|senior|"
    r"gold plus|medicare replacement|medicare (hmo|ppo)|wellcare)\b"
)
_MEDICARE = re.compile(r"\bmedicare\b")
_MEDICAID = re.compile(
    r"\b(medicaid|masshealth|medi cal|chip|community plan|mco|managed medicaid|"
    r"medical assistance|wholecare)\b"
)
_MEDICAID_MANAGED = re.compile(r"\b(managed care|mco|aco|community plan|hmo)\b")
_COMMERCIAL = re.compile(r"\bcommercial\b")
_GOVERNMENT = re.compile(r"\b(tricare|champva|veterans|workers comp|workers compensation)\b")
_NETWORKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("commercial_ppo", re.compile(r"\b(ppo|choice plus|federal employee|fep|open access ppo)\b")),
    ("commercial_hmo", re.compile(r"\bhmo\b")),
    ("commercial_epo", re.compile(r"\bepo\b")),
    ("commercial_pos", re.compile(r"\b(pos|open access plus|oap)\b")),
)


def clean(name: str | None) -> str:
    """A published name reduced to lower-case words: ids in brackets, punctuation and `_` gone."""
    if not name:
        return ""
    text = _IDS.sub(" ", name.lower()).replace("_", " ")
    return " ".join(_NOT_WORD.sub(" ", text).split())


@dataclass(frozen=True)
class PayerRules:
    """The canonical payers (with their kind) and the aliases that name them."""

    kinds: dict[str, str]
    #: Alias word tuples grouped by their first word, for a quick scan of a name.
    aliases: dict[str, list[tuple[tuple[str, ...], str]]]

    def match(self, name: str | None) -> str | None:
        """The canonical payer a published name refers to, or None."""
        words = clean(name).split()
        best: tuple[int, int, str] | None = None  # (start, -length, payer)
        for start, word in enumerate(words):
            for alias, payer in self.aliases.get(word, ()):
                if tuple(words[start : start + len(alias)]) == alias:
                    candidate = (start, -len(alias), payer)
                    if best is None or candidate < best:
                        best = candidate
            if best is not None:
                break  # the earliest start wins; longer aliases at it were all compared
        return best[2] if best else None


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("transform").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def rules() -> PayerRules:
    """The rules from the shipped data files (read once per process)."""
    kinds = {row["payer"]: row["kind"] for row in _read_csv("payers.csv")}
    aliases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for row in _read_csv("payer_aliases.csv"):
        words = tuple(clean(row["alias"]).split())
        if words:
            aliases.setdefault(words[0], []).append((words, row["payer"]))
    return PayerRules(kinds=kinds, aliases=aliases)


def display_name(name: str | None) -> str | None:
    """An unmatched payer's name for display: ids dropped, words title-cased."""
    words = clean(name)
    return words.title() if words else None


def plan_type(payer_name: str | None, plan_name: str | None, kind: str | None) -> str:
    """The plan type of a payer/plan pair (see PLAN_TYPES); `kind` is the payer's kind."""
    text = f"{clean(plan_name)} {clean(payer_name)}".strip()
    if not text:
        return "unknown"
    lines = {
        line
        for line, pattern in (
            ("medicare", _MEDICARE),
            ("medicaid", _MEDICAID),
            ("commercial", _COMMERCIAL),
        )
        if pattern.search(text)
    }
    if len(lines) > 1:
        return "other"  # one rate for several lines of business (`Medicare/Commercial`)
    if _EXCHANGE.search(text):
        return "exchange"
    if _MEDICARE_ADVANTAGE.search(text):
        return "medicare_advantage"
    if "medicare" in lines:
        return "medicare" if kind == "medicare" else "medicare_advantage"
    if "medicaid" in lines:
        if kind == "medicaid" and not _MEDICAID_MANAGED.search(text):
            return "medicaid"
        return "medicaid_managed_care"
    if _GOVERNMENT.search(text):
        return "other"
    if kind in {"medicaid", "medicaid_managed_care", "medicare", "medicare_advantage"}:
        return DEFAULT_PLAN_TYPE[kind]
    networks = {name for name, pattern in _NETWORKS if pattern.search(text)}
    if len(networks) == 1:
        return networks.pop()
    if networks or "commercial" in lines:
        return "commercial_other"
    return DEFAULT_PLAN_TYPE.get(kind or "", "unknown")


def payer_map(pairs: pl.DataFrame) -> pl.DataFrame:
    """Canonical payer and plan type for distinct (`payer_name`, `plan_name`) pairs.

    Columns: payer_name, plan_name (as published), payer (canonical, else the cleaned
    published name), payer_matched (an alias matched), payer_kind, plan_type.
    """
    r = rules()
    rows = []
    for payer_name, plan_name in pairs.select("payer_name", "plan_name").unique().iter_rows():
        canonical = r.match(payer_name)
        kind = r.kinds.get(canonical) if canonical else None
        rows.append(
            {
                "payer_name": payer_name,
                "plan_name": plan_name,
                "payer": canonical or display_name(payer_name),
                "payer_matched": canonical is not None,
                "payer_kind": kind,
                "plan_type": (
                    plan_type(payer_name, plan_name, kind) if payer_name or plan_name else None
                ),
            }
        )
    return pl.DataFrame(rows, schema=PAYER_MAP_SCHEMA)


PAYER_MAP_SCHEMA = pl.Schema(
    {
        "payer_name": pl.String(),
        "plan_name": pl.String(),
        "payer": pl.String(),
        "payer_matched": pl.Boolean(),
        "payer_kind": pl.String(),
        "plan_type": pl.String(),
    }
)
