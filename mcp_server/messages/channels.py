"""Each channel's real format and limits, counted the way the receiving side counts.

SMS is counted as carriers count it (3GPP TS 23.038): a text made only of the GSM 03.38
default alphabet is sent as GSM-7, where the extension characters (``{ } [ ] ~ \\ | ^ €``)
take two septets and one segment holds 160 septets; any other character makes the whole
message UCS-2, where one segment holds 70 UTF-16 code units. The encoding is done by the
``gsm0338`` codec, not by a hand-kept table. Message text for SMS is first folded into
GSM-7 where a letter only carries an accent GSM-7 lacks (``á`` -> ``a``; ``é``, ``ñ``,
``¡`` and ``¿`` exist in GSM-7 and stay), so Spanish copy still fits one 160-septet
segment; a text that still needs UCS-2 (emoji, other scripts) must fit 70 units.

Email: subjects beyond about 60 characters and preheaders beyond about 100 are cut by
common inboxes. Push: iOS and Android show about 50 characters of title and 178 of
body. Social: 280 characters, hashtags included (the strictest large network).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

Channel = Literal["email", "sms", "social", "push"]
CHANNELS: tuple[Channel, ...] = ("email", "sms", "social", "push")
SmsEncoding = Literal["GSM-7", "UCS-2"]

GSM7_SEGMENT = 160
UCS2_SEGMENT = 70


@dataclass(frozen=True)
class ChannelLimits:
    body: int  # characters; for SMS the one-segment limit of its encoding applies instead
    subject: int | None  # email subject or push title
    preheader: int | None  # email only
    cta: int | None  # the call to action, where it is a separate element


CHANNEL_LIMITS: dict[str, ChannelLimits] = {
    "sms": ChannelLimits(body=GSM7_SEGMENT, subject=None, preheader=None, cta=None),
    "email": ChannelLimits(body=2000, subject=60, preheader=100, cta=30),
    "social": ChannelLimits(body=280, subject=None, preheader=None, cta=None),
    "push": ChannelLimits(body=178, subject=50, preheader=None, cta=None),
}


@dataclass(frozen=True)
class SmsCount:
    encoding: SmsEncoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int

    @property
    def fits_one_segment(self) -> bool:
        return self.segments == 1


def sms_count(text: str) -> SmsCount:
    """How a carrier sends ``text``: its encoding, units and number of segments."""
    try:
        units = len(text.encode("gsm03.38"))
    except UnicodeEncodeError:
        units = len(text.encode("utf-16-le")) // 2
        per, multi = UCS2_SEGMENT, 67
        return SmsCount("UCS-2", units, 1 if units <= per else -(-units // multi))
    per, multi = GSM7_SEGMENT, 153
    return SmsCount("GSM-7", units, 1 if units <= per else -(-units // multi))


def _is_gsm7(char: str) -> bool:
    try:
        char.encode("gsm03.38")
    except UnicodeEncodeError:
        return False
    return True


_TYPOGRAPHY = {
    "…": "...",
    "–": "-",
    "—": "-",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "\u00a0": " ",
}


def fold_to_gsm7(text: str) -> str:
    """``text`` with typography and accents GSM-7 lacks replaced by their plain forms.

    Letters GSM-7 has (é, ñ, ü, ¡, ¿ ...) stay; others lose only their accent (á -> a).
    Characters with no GSM-7 form (emoji, other scripts) stay: the text is then UCS-2.
    """
    out: list[str] = []
    for char in text:
        char = _TYPOGRAPHY.get(char, char)
        if len(char) == 1 and not _is_gsm7(char):
            base = "".join(
                c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)
            )
            if base and all(_is_gsm7(c) for c in base):
                char = base
        out.append(char)
    return "".join(out)


def sms_fits(text: str) -> bool:
    return sms_count(text).fits_one_segment


def shorten(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """Cut at a word boundary with an ellipsis so that ``len`` is within ``limit``."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(limit - len(ellipsis), 0)]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(",.;:-– ") + ellipsis


def shorten_sms(text: str) -> str:
    """``text`` folded to GSM-7 and, if needed, cut at a word boundary to one segment."""
    text = " ".join(fold_to_gsm7(text).split())
    if sms_fits(text):
        return text
    words = text.split(" ")
    while len(words) > 1:
        words.pop()
        candidate = " ".join(words).rstrip(",.;:- ") + "..."
        if sms_fits(candidate):
            return candidate
    # One enormous word: cut characters.
    while text and not sms_fits(text + "..."):
        text = text[:-1]
    return text + "..."


def body_length_ok(channel: Channel, body: str) -> bool:
    if channel == "sms":
        return sms_fits(body)
    return len(body) <= CHANNEL_LIMITS[channel].body
