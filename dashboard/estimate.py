"""What a patient with insurance may pay out of pocket: the deductible, then coinsurance,
capped by the out-of-pocket maximum. Pure arithmetic, no Streamlit."""

from __future__ import annotations

from dataclasses import dataclass

#: Amounts above this are taken for a typing slip, not a plan's terms.
MAX_AMOUNT = 1_000_000.0


@dataclass(frozen=True)
class Terms:
    """The plan terms a patient gives; None where not given."""

    deductible: float | None = None
    coinsurance: float | None = None  # percent: 20 means 20 %
    oop_max: float | None = None

    @property
    def given(self) -> bool:
        """Whether there is anything to estimate with (a deductible or a coinsurance)."""
        return self.deductible is not None or self.coinsurance is not None


def out_of_pocket(price: float, terms: Terms) -> float:
    """min(oop_max, min(price, deductible) + coinsurance × max(0, price − deductible)): the
    price up to the deductible left, the coinsurance share of the rest, never more than the
    out-of-pocket maximum left. A deductible not given counts as met (0), a coinsurance not
    given as 0 %, an out-of-pocket maximum not given as no cap."""
    deductible = terms.deductible or 0.0
    share = (terms.coinsurance or 0.0) / 100
    owed = min(price, deductible) + share * max(0.0, price - deductible)
    if terms.oop_max is not None:
        owed = min(owed, terms.oop_max)
    return round(owed, 2)


def parse_amount(text: str, label: str, *, percent: bool = False) -> tuple[float | None, str]:
    """A typed amount (`$1,500`, `20%`) as a number, or None when empty; with the message
    to show when it is not a valid amount ("" when it is)."""
    cleaned = text.strip().replace(",", "").replace("$", "").rstrip("%").strip()
    if not cleaned:
        return None, ""
    try:
        amount = float(cleaned)
    except ValueError:
        amount = float("nan")
    if amount != amount:  # not a number, or NaN typed
        return None, f"{label}: “{text.strip()[:40]}” is not a number."
    if amount < 0:
        return None, f"{label} cannot be negative."
    if percent and amount > 100:
        return None, f"{label} is a percentage between 0 and 100."
    if amount > MAX_AMOUNT:
        return None, f"{label} above ${MAX_AMOUNT:,.0f} is not a plan's amount."
    return amount, ""


#: The estimate in words, shown under the table.
FORMULA = (
    "**You'd pay (estimate)** = the plan's negotiated price up to the deductible you have "
    "left, plus your coinsurance share of the rest of the price, but never more than the "
    "out-of-pocket maximum you have left. A deductible left blank counts as already met, a "
    "coinsurance left blank as 0 %."
)
CAVEAT = (
    "This is an estimate: it leaves out copays, whether the hospital and its doctors are in "
    "your plan's network, and other services billed with this one (doctors' fees, "
    "anaesthesia, imaging reads). Your insurer can tell you what you will actually owe."
)
