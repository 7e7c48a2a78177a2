"""Service search: the words a patient types → the priced services they most likely mean.

The service catalogue (`transform/data/shoppable_services.csv`, with the words patients use
for each service in `service_synonyms.csv`: "mammogram", "knee scan", "c-section") is
searched alongside what hospitals call each code. Results are ranked by

1. a code typed as such (`73721`, `CPT:73721`, `DRG 470`);
2. how well the words match: every word before only some, whole words before parts of
   words, the service's own name, description and synonyms before its category
   ("colonoscopy" is the category of upper-GI endoscopy too, so it comes after the
   colonoscopies);
3. how many hospitals price the service, then the curated services first.

A word found nowhere in the catalogue is also tried as the closest catalogue word
("colonoscpy" → "colonoscopy"), ranked below a word spelt right.

The warehouse does the cheap part (the codes containing any word, best first, at most
`POOL`); the ranking of that pool runs here, in Python, on a few hundred rows.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import duckdb
import polars as pl
from rapidfuzz import fuzz, process

#: Candidates the warehouse hands over for ranking.
POOL = 150
#: Words ignored when others are typed ("price of a knee MRI").
STOPWORDS = frozenset({"a", "an", "the", "of", "for", "my", "to", "in", "on", "and", "price",
                       "cost", "how", "much"})  # fmt: skip
#: Words that name a code type: alone they match every code of that type.
TYPE_WORDS = frozenset({"cpt", "hcpcs", "drg", "ms", "apr"})
#: The lowest similarity (0–100) at which a misspelt word is read as a catalogue word.
FUZZY_CUTOFF = 80
_WORD = re.compile(r"[a-z0-9]+")

_CANDIDATES = """
SELECT code_type, code, display_name, category, curated, facilities, rates,
       coalesce(hospital_description, '') AS hospital_description
FROM (
    SELECT c.*, list_contains($keys::VARCHAR[], c.code_type || ':' || c.code) AS listed,
           list_count(list_filter($terms::VARCHAR[], lambda x: contains(c.search_text, x)))
               AS hits
    FROM code_catalog c
)
WHERE listed OR hits > 0
ORDER BY listed DESC, hits DESC, facilities DESC, code
LIMIT $pool
"""

_EMPTY = pl.DataFrame(
    schema={"code_type": pl.String, "code": pl.String, "display_name": pl.String,
            "category": pl.String, "curated": pl.Boolean, "facilities": pl.Int64,
            "rates": pl.Int64}
)  # fmt: skip


def words(text: str) -> list[str]:
    """Lower-case words and numbers (`C-section` → `c`, `section`; `CPT:73721` → `cpt`,
    `73721`)."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Catalogue:
    """Per service key (`CPT:73721`): its synonyms' text; and every catalogue word."""

    synonyms: dict[str, str]
    vocabulary: tuple[str, ...]


def _data(name: str) -> list[dict[str, str]]:
    text = resources.files("transform").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@functools.cache
def catalogue() -> Catalogue:
    """The service catalogue, read once."""
    synonyms = {
        f"{r['code_type']}:{r['code']}": " ".join(r["synonyms"].split(";"))
        for r in _data("service_synonyms.csv")
    }
    names = [r["name"] for r in _data("shoppable_services.csv")]
    vocabulary = sorted({w for t in [*synonyms.values(), *names] for w in words(t) if len(w) > 3})
    return Catalogue(synonyms, tuple(vocabulary))


def _query_words(text: str) -> list[str]:
    found = words(text)
    kept = [w for w in found if w not in STOPWORDS]
    return kept or found


def _spellings(query: list[str], vocabulary: tuple[str, ...]) -> dict[str, str]:
    """word → the catalogue word it is probably a misspelling of (only for words of five
    letters or more that are part of no catalogue word)."""
    fixed = {}
    for word in query:
        if len(word) < 5 or not word.isalpha() or any(word in v for v in vocabulary):
            continue
        best = process.extractOne(word, vocabulary, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        if best is not None:
            fixed[word] = best[0]
    return fixed


def _synonym_keys(query: list[str], fixed: dict[str, str], cat: Catalogue) -> list[str]:
    """The catalogue services one of whose synonyms contains a word typed (or its fix)."""
    wanted = {*query, *fixed.values()} - {w for w in query if len(w) < 2}
    return [k for k, text in cat.synonyms.items() if wanted & set(words(text))]


def _score(
    row: dict[str, Any], query: list[str], fixed: dict[str, str], cat: Catalogue
) -> tuple[int, ...]:
    """The sort key of a candidate (higher is better)."""
    key = f"{row['code_type']}:{row['code']}"
    own = " ".join(
        str(row[c] or "") for c in ("code_type", "code", "display_name", "hospital_description")
    ).lower()
    if row["code_type"] == "CPT":
        own += " hcpcs"  # CPT is HCPCS Level I
    own += " " + cat.synonyms.get(key, "")
    own_words = set(words(own))
    category = str(row["category"] or "").lower()
    code = str(row["code"]).lower()
    whole = part = weak = 0
    for word in query:
        if word in own_words:
            whole += 1
        elif len(word) > 2 and word in own:
            part += 1
        elif (word in fixed and fixed[word] in own) or (len(word) > 2 and word in category):
            weak += 1  # a misspelling read as a catalogue word, or only the category
    matched = whole + part + weak
    if not any(w not in TYPE_WORDS and (w in own or w in category or w in fixed) for w in query):
        matched = 0  # only a code type matched ("CPT" in "CPT:73721" matches every CPT code)
    typed_code = int(code in query)
    return (typed_code, int(matched == len(query)), matched, whole, part,
            int(row["facilities"] or 0), int(bool(row["curated"])))  # fmt: skip


def search_codes(con: duckdb.DuckDBPyConnection, text: str, limit: int = 20) -> pl.DataFrame:
    """Priced services matching the words of `text`, best first (see the module's notes):
    code type, code, display name, category, curated, facilities and rates."""
    query = _query_words(text)
    if not query or limit <= 0:
        return _EMPTY
    cat = catalogue()
    fixed = _spellings(query, cat.vocabulary)
    terms = sorted({w for w in [*query, *fixed.values()] if len(w) > 1})
    keys = _synonym_keys(query, fixed, cat)
    cursor = con.execute(_CANDIDATES, {"keys": keys, "terms": terms, "pool": POOL})
    names = [d[0] for d in cursor.description or []]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    scored = [(s, r) for r in rows if (s := _score(r, query, fixed, cat))[2]]
    scored.sort(key=lambda sr: (tuple(-v for v in sr[0]), sr[1]["code"], sr[1]["code_type"]))
    best = [{c: r[c] for c in _EMPTY.columns} for _, r in scored[:limit]]
    return pl.DataFrame(best, schema=_EMPTY.schema) if best else _EMPTY
