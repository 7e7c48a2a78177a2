"""Canonical payers and plan types for published payer and plan names.

Hospitals name the same insurer differently (`BLUE CROSS BLUE SHIELD [110001]`,
`BlueCrossBlueShield`, `BCBS OF TEXAS [1045]`, `Blue_Cross_Blue_Shield - PPO`). A published
name is *normalised* (ids dropped, CamelCase and `_` split, lower case, `&` → `and`, the
spellings of Blue Cross Blue Shield → `bcbs` and of UnitedHealthcare → `uhc`, a trailing
`Inc`/`LLC`/`Co` dropped), then looked up in the registry: `transform/data/payers.csv`
(one row per canonical payer: kind, carrier, state) and `transform/data/payer_aliases.csv`
(the names that denote it). An alias matches when its words occur adjacent among the
name's words, spaces ignored (`health net` = `healthnet`); scanning left to right, the
longest alias at each position wins. A named company beats a *generic* payer (`Medicare`,
`Blue Cross Blue Shield`, the categories), and an alias with no payer marks a name as
ambiguous (`Healthfirst`: New York or Florida), which then maps to nothing. Only when no
alias matches (or only a generic one) is a misspelling looked for with rapidfuzz (see
`FUZZY_THRESHOLD`); such a match is recorded as `match_method = 'fuzzy'`.
docs/payers.md has the whole story, including how to add an alias.

The mapping runs once per ingested file on its distinct payer/plan pairs, cached per
spelling, so it costs milliseconds whatever the number of rates.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import re
from dataclasses import dataclass, field
from importlib import resources

import polars as pl
from rapidfuzz import fuzz, process

PLAN_TYPES = (
    "commercial_ppo",
    "commercial_hmo",
    "commercial_epo",
    "commercial_pos",
    "commercial_hdhp",
    "commercial_other",
    "medicare_advantage",
    "medicare_advantage_hmo",
    "medicare_advantage_ppo",
    "medicare_advantage_snp",
    "medicare",
    "medicaid_managed_care",
    "medicaid",
    "chip",
    "exchange",
    "tricare",
    "va",
    "workers_comp",
    "auto",
    "other",
    "unknown",
)
#: Plan type of a payer's rates when the plan name names no line of business or network.
DEFAULT_PLAN_TYPE = {
    "commercial": "commercial_other",
    "medicare": "medicare",
    "medicare_advantage": "medicare_advantage",
    "medicaid": "medicaid",
    "medicaid_managed_care": "medicaid_managed_care",
    "chip": "chip",
    "tricare": "tricare",
    "va": "va",
    "workers_comp": "workers_comp",
    "auto": "auto",
    "property_casualty": "other",  # auto, workers' comp or liability: the plan name says
    "tpa": "commercial_other",  # self-funded employer plans
    "union_trust": "commercial_other",  # Taft-Hartley and employer trusts
    "network": "other",  # rented by commercial plans, workers' comp and auto alike
    "international": "other",
    "government": "other",
    "other": "other",
}
PAYER_KINDS = frozenset(DEFAULT_PLAN_TYPE)
#: Kinds whose line of business the plan name's network words (HMO, PPO) don't change.
_KIND_FIRST = frozenset(
    {"medicare", "medicare_advantage", "medicaid", "medicaid_managed_care", "chip"}
    | {"tricare", "va", "workers_comp", "auto", "property_casualty"}
)

#: Fuzzy matching: rapidfuzz `fuzz.ratio` (normalised Indel similarity, 0-100) of a run of
#: the name's words against an alias, spaces removed. 88 lets one letter in or out through
#: from 5 letters (`humanna`) and one letter changed from 9 (`geisenger`), no more.
FUZZY_THRESHOLD = 88.0
#: A fuzzy hit is dropped when a payer of another carrier (or an ambiguous name) scores
#: within this margin of it: a near miss must point to one carrier only.
FUZZY_MARGIN = 5.0
#: Runs of words shorter than this (letters, spaces removed) are never fuzzy-matched.
FUZZY_MIN_LENGTH = 6
_MAX_RUN = 8  # words in the longest alias
_FUZZY_RUN = 5  # words in a run compared by fuzzy matching

_IDS = re.compile(r"\[[^\]]*\]|\([^)]*\d[^)]*\)")  # [1045] always, (…) when it holds a digit
_TRAILING_ID = re.compile(r"\s+(?:-|#|:)\s*[A-Za-z]{0,3}\d[\w-]*\s*$")  # `- 12345`, `# A12`
_CAMEL = re.compile(
    r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])"
)
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_BCBS = re.compile(r"\b(?:blue ?cross(?: and)? ?blue ?shield|bc(?: and)? ?bs)\b")
_UHC = re.compile(r"\bunited ?health ?care\b")
_MEDI_CAL = re.compile(r"\bmedi cal\b")  # one token: spaces removed it would read `medical`
_LEGAL = frozenset({"inc", "llc", "ltd", "corp", "corporation", "incorporated", "co", "company"})
_LEGAL |= {"plc", "lp", "llp"}
#: Words that name no payer on their own: a run made only of these is never fuzzy-matched.
_COMMON_WORDS = (
    "health healthcare care plan plans medical medicare medicaid insurance company services "
    "service benefit benefits group network community national united american first general "
    "family partners alliance choice select advantage senior mutual life and of the for hmo "
    "ppo epo pos commercial options solutions systems center hospital physicians human plus "
    "premier total complete state county department dept government program trust fund "
    "union local employee employees retiree administrators management managed behavioral "
    "dental vision optimal optimum alternate all other self pay payer payers ind individual "
    "international new north south east west central medicine bcbs blue cross shield"
)
_COMMON = frozenset(_COMMON_WORDS.split())


def clean(name: str | None, camel: bool = True) -> str:
    """A published name reduced to lower-case words: ids, punctuation, `_` (and CamelCase) gone."""
    if not name:
        return ""
    text = _TRAILING_ID.sub(" ", _IDS.sub(" ", name))
    text = _CAMEL.sub(" ", text) if camel else text
    text = text.lower().replace("&", " and ").replace("'", "").replace("\u2019", "")
    return " ".join(w for w in _NOT_WORD.sub(" ", text).split() if not _is_id(w))


def _is_id(word: str) -> bool:
    return word.isdigit() and len(word) >= 3


def normalise(name: str | None) -> tuple[str, ...]:
    """The words a name is matched on: `clean`, BCBS and UHC spellings unified, `Inc` dropped."""
    text = _MEDI_CAL.sub("medi-cal", _UHC.sub("uhc", _BCBS.sub("bcbs", clean(name))))
    words = text.split()
    while len(words) > 1 and words[-1] in _LEGAL:
        words.pop()
    return tuple(words)


@dataclass(frozen=True)
class Payer:
    """A canonical payer of the registry."""

    name: str
    kind: str
    carrier: str
    state: str
    #: A program or category (`Medicare`, `Blue Cross Blue Shield`): a named company wins.
    generic: bool


@dataclass(frozen=True)
class PayerMatch:
    """The canonical payer a name denotes, and how it was found."""

    payer: str
    method: str  # 'exact' | 'fuzzy'
    score: float  # 100 for exact


@dataclass(frozen=True, eq=False)
class PayerRules:
    """The canonical payers and the aliases that name them."""

    payers: dict[str, Payer]
    #: Alias with spaces removed → payer ('' = ambiguous: the name maps to nothing).
    aliases: dict[str, str]
    #: Fuzzy choices by first letter (a misspelling keeps it): aliases, their payers and
    #: whether each may be a fuzzy match (not an abbreviation) or only a rival of one.
    choices: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[bool, ...]]]
    #: Aliases of the warehouse's own (`transform.local_aliases`): a spelling that is one
    #: of them whole maps to its payer, whatever else its words could match.
    local: frozenset[str] = frozenset()
    max_run: int = _MAX_RUN  # words in the longest alias
    _found: dict[str | None, PayerMatch | None] = field(default_factory=dict, repr=False)

    @functools.cached_property
    def kinds(self) -> dict[str, str]:
        return {name: payer.kind for name, payer in self.payers.items()}

    def match(self, name: str | None) -> str | None:
        """The canonical payer a published name refers to, or None."""
        found = self.lookup(name)
        return found.payer if found else None

    def cached(self, name: str | None) -> PayerMatch | None:
        """`lookup`, remembered per spelling for these rules."""
        if name not in self._found:
            self._found[name] = self.lookup(name)
        return self._found[name]

    def lookup(self, name: str | None) -> PayerMatch | None:
        """The canonical payer of a name, exact or fuzzy, or None (unknown or ambiguous)."""
        words = normalise(name)
        if self.local and "".join(words) in self.local:
            return PayerMatch(self.aliases["".join(words)], "exact", 100.0)
        hits = self._exact(words)
        specific = [h for h in hits if h.payer and not self.payers[h.payer].generic]
        generic = [h for h in hits if h.payer and self.payers[h.payer].generic]
        found = specific[0] if specific else generic[0] if generic else None
        if found is None and hits:
            return None  # an ambiguous name: no guess, fuzzy or not
        covered = {i for h in hits for i in range(h.start, h.end)}
        rest = [w for i, w in enumerate(words) if i not in covered and w not in _COMMON]
        fuzzy = self._fuzzy(words) if found is None or not specific or rest else None
        if fuzzy and (
            found is None
            # a misspelt company beats a generic exact match (`BCBS of Texsa`) ...
            or (not specific and not self.payers[fuzzy.payer].generic)
            # ... and a longer misspelt name the alias it contains (`Inland Empire Helth`)
            or (
                fuzzy.start <= found.start
                and fuzzy.end >= found.end
                and fuzzy.payer != found.payer
                and fuzzy.end - fuzzy.start > found.end - found.start
            )
        ):
            return PayerMatch(fuzzy.payer, "fuzzy", fuzzy.score)
        return PayerMatch(found.payer, "exact", 100.0) if found else None

    def _exact(self, words: tuple[str, ...]) -> list[_Hit]:
        """Left to right, the longest alias at each position (its words then skipped)."""
        hits: list[_Hit] = []
        start = 0
        while start < len(words):
            for end in range(min(len(words), start + self.max_run), start, -1):
                payer = self.aliases.get("".join(words[start:end]))
                if payer is not None:
                    hits.append(_Hit(100.0, start, end, payer))
                    start = end
                    break
            else:
                start += 1
        return hits

    def _fuzzy(self, words: tuple[str, ...]) -> _Hit | None:
        """The one carrier a run of the name's words is a near miss of, or None."""
        hits: list[_Hit] = []
        for start in range(len(words)):
            for end in range(start + 1, min(len(words), start + _FUZZY_RUN) + 1):
                run = words[start:end]
                text = "".join(run)
                if len(text) < FUZZY_MIN_LENGTH or all(w in _COMMON for w in run):
                    continue
                choices, payers, targets = self.choices.get(text[0], ((), (), ()))
                for _, score, i in process.extract(
                    text,
                    choices,
                    scorer=fuzz.ratio,
                    score_cutoff=FUZZY_THRESHOLD - FUZZY_MARGIN,
                    limit=None,
                ):
                    hits.append(_Hit(round(score, 1), start, end, payers[i], targets[i]))
        # As with exact aliases the longest wins: a hit inside a longer one is no rival
        # (`blu shield` = Blue Cross Blue Shield inside `blu shield of california`).
        strong = [h for h in hits if h.score >= FUZZY_THRESHOLD]
        hits = [h for h in hits if not any(h.inside(o) for o in strong)]
        if not hits:
            return None
        best = max(hits, key=lambda h: h.score)
        if best.score < FUZZY_THRESHOLD or not best.target or not best.payer:
            return None  # an abbreviation or an ambiguous name is no target, only a rival
        carrier = self.payers[best.payer].carrier
        for other in hits:
            if other.score >= best.score - FUZZY_MARGIN and (
                not other.payer or self.payers[other.payer].carrier != carrier
            ):
                return None  # near another carrier or an ambiguous name: no guess
        return best


@dataclass(frozen=True)
class _Hit:
    """An alias found in words[start:end] (score 100 when exact)."""

    score: float
    start: int
    end: int
    payer: str  # '' for an ambiguous name
    target: bool = True  # False: a fuzzy rival only (an alias with an abbreviation)

    def inside(self, other: _Hit) -> bool:
        return (
            other.start <= self.start
            and self.end <= other.end
            and other.end - other.start > self.end - self.start
        )


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("transform").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


#: A warehouse's own aliases, (alias, payer) pairs (see `transform.local_aliases`).
LocalAliases = tuple[tuple[str, str], ...]


@functools.cache
def _shipped() -> tuple[dict[str, Payer], tuple[tuple[str, str], ...]]:
    """The registry's payers and (alias, payer) pairs, as shipped."""
    payers: dict[str, Payer] = {}
    for row in _read_csv("payers.csv"):
        if row["kind"] not in PAYER_KINDS:
            raise ValueError(f"payers.csv: {row['payer']}: unknown kind {row['kind']!r}")
        payers[row["payer"]] = Payer(
            row["payer"], row["kind"], row["carrier"], row["state"], row["generic"] == "yes"
        )
    pairs = tuple((row["alias"], row["payer"]) for row in _read_csv("payer_aliases.csv"))
    return payers, pairs


#: The canonical payer a name that says only "Blue Cross Blue Shield" means.
GENERIC_BLUE = "Blue Cross Blue Shield"


@functools.cache
def blue_plans() -> dict[str, str]:
    """State → the one Blue Cross Blue Shield company licensed for the whole state
    (`transform/data/blue_plans.csv`). States that several Blue companies share (CA, ID,
    KS, MO, NY, PA, VA, WA) are not listed: there the generic name stays generic."""
    payers, _ = _shipped()
    plans = {row["state"]: row["payer"] for row in _read_csv("blue_plans.csv")}
    unknown = sorted(set(plans.values()) - set(payers))
    if unknown:
        raise ValueError(f"blue_plans.csv names unknown payers: {', '.join(unknown)}")
    return plans


@functools.cache
def rules(local: LocalAliases = ()) -> PayerRules:
    """The registry from the shipped data files (read once per process), with a
    warehouse's `local` aliases over them: a local alias wins over a shipped one.

    Raises ValueError when the data contradicts itself: an unknown kind or payer, or one
    normalised alias naming two payers."""
    payers, pairs = _shipped()
    aliases: dict[str, str] = {}
    abbreviated: set[str] = set()

    def add(alias: str, payer: str, source: str, override: bool = False) -> str:
        if payer and payer not in payers:
            raise ValueError(f"{source}: {alias!r} names unknown payer {payer!r}")
        words = normalise(alias)
        key = "".join(words)
        if any(len(w) <= 2 and w != "of" for w in words):
            abbreviated.add(key)  # `bcbs mo` is one letter from `bcbs hmo`: no fuzzy target
        if override and key:
            aliases[key] = payer
        elif key and aliases.setdefault(key, payer) != payer:
            raise ValueError(f"{source}: {alias!r} names {payer!r} and {aliases[key]!r}")
        return key

    for alias, payer in [*pairs, *((name, name) for name in payers)]:
        add(alias, payer, "payer_aliases.csv")
    mine = frozenset(add(alias, payer, "local aliases", override=True) for alias, payer in local)
    mine -= {""}
    buckets: dict[str, list[tuple[str, str, bool]]] = {}
    for key, payer in aliases.items():
        if len(key) >= FUZZY_MIN_LENGTH:
            buckets.setdefault(key[0], []).append((key, payer, key not in abbreviated))
    # Common words are rivals too: a near miss of `medical` is no misspelt `Medica`.
    for word in _COMMON - set(aliases):
        if len(word) >= FUZZY_MIN_LENGTH:
            buckets.setdefault(word[0], []).append((word, "", False))
    choices = {
        letter: (
            tuple(k for k, _, _ in items),
            tuple(p for _, p, _ in items),
            tuple(t for _, _, t in items),
        )
        for letter, items in buckets.items()
    }
    longest = max((len(normalise(alias)) for alias, _ in local), default=0)
    return PayerRules(
        payers=payers,
        aliases=aliases,
        choices=choices,
        local=mine,
        max_run=max(_MAX_RUN, longest),
    )


def match_payer(name: str | None) -> PayerMatch | None:
    """The canonical payer of a published name (cached per spelling, per process)."""
    return rules().cached(name)


def canonical_name(name: str) -> str | None:
    """The registry's payer called `name` (case and outer spaces ignored), or None."""
    payers = rules().payers
    if name in payers:
        return name
    wanted = name.strip().casefold()
    return next((p for p in payers if p.casefold() == wanted), None)


def close_payers(name: str, limit: int = 3) -> list[str]:
    """The registry's payers whose names are closest to `name` (a mistyped canonical name)."""
    names = {" ".join(normalise(payer)): payer for payer in rules().payers}
    return [payer for payer, _ in _closest(name, names, limit)]


def candidates(
    name: str | None, limit: int = 3, local: LocalAliases = ()
) -> list[tuple[str, float]]:
    """Best guesses for an unmapped name: the payers whose aliases come closest to it, best
    first. A review aid, never a match: the near misses `lookup` refuses are among them."""
    return _closest(name, _spelled(local), limit)


def _closest(name: str | None, spelled: dict[str, str], limit: int) -> list[tuple[str, float]]:
    """Payers of the closest aliases (normalised words → payer), scored 0-100: the better of
    rapidfuzz `token_set_ratio` of the words and `ratio` with spaces removed (`multi plan`)."""
    words = " ".join(normalise(name))
    if not words:
        return []
    aliases = list(spelled)
    best: dict[str, float] = {}
    for text, choices, scorer in (
        (words, aliases, fuzz.token_set_ratio),
        (words.replace(" ", ""), [a.replace(" ", "") for a in aliases], fuzz.ratio),
    ):
        for _, score, i in process.extract(text, choices, scorer=scorer, limit=20 * limit):
            payer = spelled[aliases[i]]
            best[payer] = max(best.get(payer, 0.0), round(score, 1))
    return sorted(best.items(), key=lambda item: (-item[1], item[0]))[:limit]


@functools.cache
def _spelled(local: LocalAliases) -> dict[str, str]:
    """Every alias as its normalised words (spaces kept) → the payer it names now."""
    payers, pairs = _shipped()
    aliases = rules(local).aliases
    spelled: dict[str, str] = {}
    for alias, _ in [*pairs, *((name, name) for name in payers), *local]:
        words = normalise(alias)
        if aliases.get("".join(words)):
            spelled[" ".join(words)] = aliases["".join(words)]
    return spelled


def display_name(name: str | None) -> str | None:
    """An unmatched payer's name for display: ids dropped, words title-cased."""
    words = clean(name)
    return words.title() if words else None


# Plan-type evidence, searched in the cleaned plan name + payer name.
_MEDICARE = re.compile(r"\b(medicare|medigap)\b")
_MEDICAID = re.compile(
    r"\b(medicaid|masshealth|medi cal|mco|managed medicaid|medical assistance|wholecare|"
    r"community plan|star kids|star plus|starplus|star health|tenncare|ahcccs|badgercare|"
    r"soonercare|apple health|kancare|healthchoices|nj familycare|mo healthnet|husky|"
    r"cardinal care|healthy horizons|better health|centennial care|turquoise care)\b"
)
_MEDICAID_WORD = re.compile(r"\bmedicaid\b")
_COMMERCIAL = re.compile(r"\bcommercial\b")
_EXCHANGE = re.compile(
    r"\b(exchange|marketplace|ambetter|aca|qhp|ifp|individual (and )?family|bronze|silver|"
    r"platinum|connector|covered california)\b"
)
_SNP = re.compile(
    r"\b(d ?snp|c ?snp|i ?snp|snp|special needs|dual|duals|dual complete|mmp|"
    r"medicare medicaid plan|one care|senior care options|sco)\b"
)
_MEDICARE_ADVANTAGE = re.compile(
    r"\b(medicare advantage|mapd|ma pd|ma (hmo|ppo|pffs|only)|part c|senior|gold plus|"
    r"gold choice|medicare replacement|medicare (hmo|ppo)|medicarecomplete|aarp|"
    r"generations advantage|keystone 65|pffs)\b"
)
_MA_NETWORKS = (
    ("medicare_advantage_hmo", re.compile(r"\b(hmo|gold plus)\b")),
    ("medicare_advantage_ppo", re.compile(r"\b(ppo|rppo)\b")),
)
_CHIP = re.compile(
    r"\b(chip|chp plus|child health plus|childrens health insurance program|peachcare|"
    r"coverkids|cover kids|kidcare|all kids|husky b)\b"
)
_PROGRAMS = (
    ("tricare", re.compile(r"\b(tricare|tri care|champus|usfhp|us family health plan)\b")),
    ("va", re.compile(r"\b(champva|veterans|va ccn|va community care|triwest)\b")),
    (
        "workers_comp",
        re.compile(r"\b(workers? comp(ensation)?|workmans? comp(ensation)?|work comp)\b"),
    ),
    ("auto", re.compile(r"\b(auto|automobile|motor vehicle|mva|no fault|pip|personal injury)\b")),
)
_NETWORKS = (
    (
        "commercial_ppo",
        re.compile(r"\b(ppo|choice plus|federal employee|fep|preferred provider)\b"),
    ),
    ("commercial_hmo", re.compile(r"\b(hmo|health maintenance)\b")),
    ("commercial_epo", re.compile(r"\b(epo|exclusive provider)\b")),
    ("commercial_pos", re.compile(r"\b(pos|open access plus|oap|point of service)\b")),
)
_HDHP = re.compile(r"\b(hdhp|high deductible|hsa|health savings)\b")


@functools.cache
def plan_type(payer_name: str | None, plan_name: str | None, kind: str | None) -> str:
    """The plan type of a payer/plan pair (see PLAN_TYPES); `kind` is the payer's kind."""
    # CamelCase split and not: `HMOBlue` says HMO, `MassHealth` says MassHealth.
    text = " ".join(
        {clean(name, camel): None for name in (plan_name, payer_name) for camel in (True, False)}
    ).strip()
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
    snp = _SNP.search(text) is not None
    if len(lines) > 1 and not (snp and "commercial" not in lines):
        return "other"  # one rate for several lines of business (`Medicare/Commercial`)
    if _EXCHANGE.search(text):
        return "exchange"
    if snp:
        return "medicare_advantage_snp"
    if (
        _MEDICARE_ADVANTAGE.search(text)
        or ("medicare" in lines and kind != "medicare")
        or (kind == "medicare_advantage" and not lines)
    ):
        networks = {name for name, pattern in _MA_NETWORKS if pattern.search(text)}
        return networks.pop() if len(networks) == 1 else "medicare_advantage"
    if "medicare" in lines:
        return "medicare"
    if _CHIP.search(text) and not _MEDICAID_WORD.search(text):
        return "chip"  # before Medicaid: a Medicaid plan's CHIP rates (`Better Health`, `CHIP`)
    if "medicaid" in lines:
        return "medicaid" if kind == "medicaid" else "medicaid_managed_care"
    for name, pattern in _PROGRAMS:
        if pattern.search(text):
            return name
    if kind in _KIND_FIRST and "commercial" not in lines:
        return DEFAULT_PLAN_TYPE[kind]
    networks = {name for name, pattern in _NETWORKS if pattern.search(text)}
    if len(networks) == 1:
        return networks.pop()
    if _HDHP.search(text):
        return "commercial_hdhp"
    if networks or "commercial" in lines:
        return "commercial_other"
    return DEFAULT_PLAN_TYPE.get(kind or "", "unknown")


def payer_map(
    pairs: pl.DataFrame, local: LocalAliases = (), state: str | None = None
) -> pl.DataFrame:
    """Canonical payer and plan type for distinct (`payer_name`, `plan_name`) pairs, by
    the shipped registry and a warehouse's `local` aliases. A name that says only "Blue
    Cross Blue Shield" (`BCBS`, `BlueCrossBlueShield`) at a hospital in `state` is that
    state's Blue company where one company covers the state (`blue_plans`): a hospital
    contracts with its local Blue plan, which prices every Blue member's care there.

    Columns: payer_name, plan_name (as published), payer (canonical, else the cleaned
    published name), payer_matched (a registry payer was found), payer_kind, plan_type,
    match_method ('exact' or 'fuzzy', NULL when unmatched), match_score (100 when exact).
    """
    r = rules(local)
    local_blue = blue_plans().get((state or "").upper())
    rows = []
    for payer_name, plan_name in pairs.select("payer_name", "plan_name").unique().iter_rows():
        found = r.cached(payer_name)
        if found and found.payer == GENERIC_BLUE and local_blue:
            found = dataclasses.replace(found, payer=local_blue)
        kind = r.payers[found.payer].kind if found else None
        rows.append(
            {
                "payer_name": payer_name,
                "plan_name": plan_name,
                "payer": found.payer if found else display_name(payer_name),
                "payer_matched": found is not None,
                "payer_kind": kind,
                "plan_type": (
                    plan_type(payer_name, plan_name, kind) if payer_name or plan_name else None
                ),
                "match_method": found.method if found else None,
                "match_score": found.score if found else None,
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
        "match_method": pl.String(),
        "match_score": pl.Float64(),
    }
)
