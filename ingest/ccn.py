"""CMS Certification Numbers (CCN): the six characters that name a Medicare-certified
hospital, and the state their first two digits stand for.

A hospital CCN is two digits of state code and four of sequence (`050101`). CMS also uses
letters: in the third place for units and special facility types (`15J200`, `05S001`), and
in the sixth for emergency hospitals (`…E`, and `…F` for federal ones such as VA medical
centres: `24002F`).
"""

from __future__ import annotations

import re

_CCN = re.compile(r"\d{2}(?:\d{4}|[A-Z]\d{3}|\d{3}[EF])")

#: The state code of a CCN's first two digits (CMS State Operations Manual, 2779A1).
_NUMBERED = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE "
    "NV NH NJ NM NY NC ND OH OK OR PA PR RI SC SD TN TX UT VT VI VA WA WV WI WY"
)  # codes 01 to 53, in order
STATE_CODES = dict(zip([f"{n:02d}" for n in range(1, 54)], _NUMBERED.split(), strict=True)) | {
    "55": "CA",
    "64": "AS",
    "65": "GU",
    "66": "MP",
    "67": "TX",
    "68": "FL",
    "71": "LA",
}


def normalise_ccn(raw: str) -> tuple[str, bool]:
    """A CCN as CMS writes it (upper case, six characters) and whether it had to be padded:
    a spreadsheet drops the leading zero of `050101` (`50101`, or `50101.0`)."""
    text = re.sub(r"[\s-]+", "", raw.strip().upper())
    text = re.sub(r"\.0+$", "", text)
    if len(text) == 5 and text[:1].isdigit():
        return "0" + text, True
    return text, False


def valid_ccn(ccn: str) -> bool:
    """Whether a normalised CCN has the shape of a hospital's (a known state code included)."""
    return bool(_CCN.fullmatch(ccn)) and ccn[:2] in STATE_CODES


def ccn_state(ccn: str) -> str | None:
    """The state a CCN was issued in, from its first two digits; None if unknown."""
    return STATE_CODES.get(ccn[:2])


def federal(ccn: str) -> bool:
    """Whether a CCN is a federal hospital's (VA, military): `…F`. The CMS price
    transparency rule does not bind federally owned or operated hospitals."""
    return ccn.endswith("F")
