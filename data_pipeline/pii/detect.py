"""Personal data in text: each kind is a candidate regex plus a validator, replaced by a fixed placeholder.

Precision first (a product code is not an ID number): a candidate must stand alone (no letter or digit glued to
either side, so a digit run inside a longer code never matches) and pass its kind's check —
  email       local@domain.tld, the TLD letters only and not a file suffix (icon@2x.png, hls@0.8.9.js)
  ipv4/ipv6   valid to the stdlib `ipaddress` (IPv6: 3+ groups written), by default only global addresses
              (192.168.1.1, 127.0.0.1, documentation ranges are nobody's); a 4-part number after "version"/"版本"/
              "v" is a version, and so is one with fewer than two multi-digit parts (2.3.11.4, 3.1.4.2)
  cn_id       18-character resident ID (GB 11643): region digit 1-8, a real birth date (1900-2099; a fixed
              range, not today, so a rerun on another day gives the same bytes) and the ISO 7064 MOD 11-2 check
  bank_card   16-19 digits (plain, or 4-digit groups split by one kind of space or dash), Luhn-valid, with a
              card-scheme prefix (UnionPay 62, Visa 4, Mastercard 51-55/22-27, Discover 60/64/65, JCB 35)
  cn_mobile   1[3-9] + 9 digits, optionally +86/0086 and split 3-4-4
  cn_landline area code 010, 02x or 0[3-9]xx, then a separator or parentheses, then 7-8 digits from 2-8
— and, for the weakly checked number kinds (mobile, landline, card), not follow a word that names the number as
something else (订单号, 运单号, 型号, ISBN, order, serial, tracking ...). Kinds run in `KINDS` order on the text
already replaced, so an e-mail's digits are gone before the phone rule looks.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

PLACEHOLDERS = {
    "email": "[EMAIL]", "ipv4": "[IP]", "ipv6": "[IP]", "cn_id": "[ID_NUMBER]", "bank_card": "[BANK_CARD]",
    "cn_mobile": "[PHONE]", "cn_landline": "[PHONE]",
}

_ALONE_BEFORE = r"(?<![A-Za-z0-9_])"
_ALONE_AFTER = r"(?![A-Za-z0-9_])"
# File suffixes after an "@": retina images (icon@2x.png) and versioned scripts in real pages (hls@0.8.9.js).
_FILE_SUFFIXES = {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "js", "mjs", "css", "json", "map",
                  "html", "htm", "php", "txt", "pdf", "zip", "gz", "py", "ts", "vue"}

# Words right before a number that say it is not a phone or card number (checked in the preceding 16 chars).
_NOT_PERSONAL = re.compile(
    r"(订单|单号|编号|编码|货号|型号|批号|批次|序列号|流水号|运单|快递|物流|发票|条码|条形码|版本|专利|"
    r"isbn|issn|sku|order|serial|tracking|invoice|model|part\s*(?:no|number)|version|ver\.?|patent|"
    r"ref(?:erence)?|doi)[\s:：#.№-]*(?:no\.?)?[\s:：#]*$",
    re.IGNORECASE)


def _context_allows(match: re.Match) -> bool:
    return not _NOT_PERSONAL.search(match.string[max(0, match.start() - 16):match.start()])


def _email(match: re.Match, public_ips_only: bool) -> bool:
    return match.group("tld").lower() not in _FILE_SUFFIXES


def _ip(version: int) -> Callable[[re.Match, bool], bool]:
    def check(match: re.Match, public_only: bool) -> bool:
        try:
            address = ipaddress.ip_address(match.group(0).split("%")[0])
        except ValueError:
            return False
        if address.version != version:
            return False
        if version == 6 and "." not in match.group(0) and sum(1 for g in match.group(0).split(":") if g) < 3:
            return False  # "1::2" or "a::b"-like tokens: too little to be an address someone wrote down
        if version == 4 and sum(len(octet) > 1 for octet in match.group(0).split(".")) < 2:
            # 3.1.4.2, 2.3.11.4: a section number, a dental formula or a version (found in real pages' scripts:
            # "easy-xdm":"2.4.17.1", "SEO Pack 2.3.11.4") far more often than someone's host
            return False
        before = match.string[max(0, match.start() - 10):match.start()]
        if version == 4 and _VERSION_WORD.search(before):
            return False
        return address.is_global or not public_only
    return check


_VERSION_WORD = re.compile(r"(?:version|ver\.?|版本|v)\s*$", re.IGNORECASE)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_number_valid(number: str) -> bool:
    """GB 11643-1999: region, birth date, sequence, ISO 7064 MOD 11-2 check character."""
    if len(number) != 18 or not number[:17].isdigit() or number[0] not in "12345678":
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2099:
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


_CARD_PREFIX = re.compile(r"62|4|5[1-5]|2[2-7]|6011|64|65|35")


def _bank_card(match: re.Match, public_ips_only: bool) -> bool:
    digits = re.sub(r"[ -]", "", match.group(0))
    return (16 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) is not None and luhn_valid(digits)
            and not id_number_valid(digits) and _context_allows(match))


def _number_in_context(match: re.Match, public_ips_only: bool) -> bool:
    return _context_allows(match)


@dataclass(frozen=True)
class Kind:
    name: str
    pattern: re.Pattern
    valid: Callable[[re.Match, bool], bool]  # (candidate, public_ips_only): match.string is the text


KINDS: tuple[Kind, ...] = (
    Kind("email", re.compile(
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@"
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,24})(?![A-Za-z0-9-])"), _email),
    Kind("cn_id", re.compile(_ALONE_BEFORE + r"[1-8]\d{16}[0-9Xx]" + _ALONE_AFTER),
         lambda match, public_ips_only: id_number_valid(match.group(0))),
    Kind("bank_card", re.compile(
        _ALONE_BEFORE + r"(?:\d{16,19}|\d{4}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{1,3})?)"
        + r"(?![A-Za-z0-9_]|[ -]\d)"), _bank_card),
    Kind("cn_mobile", re.compile(
        r"(?<![A-Za-z0-9_+])(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:\d{8}|(?P<sep>[ -])\d{4}(?P=sep)\d{4})"
        + r"(?![A-Za-z0-9_]|[ -]\d)"), _number_in_context),
    Kind("cn_landline", re.compile(
        _ALONE_BEFORE + r"(?:\(0(?:10|2\d|[3-9]\d{2})\)[ -]?|（0(?:10|2\d|[3-9]\d{2})）|0(?:10|2\d|[3-9]\d{2})[ -])"
        r"[2-8]\d{6,7}" + r"(?![A-Za-z0-9_]|[ -]\d)"), _number_in_context),
    # Every group starts with its colon, so a long hex run cannot be split many ways (no backtracking blow-up).
    Kind("ipv6", re.compile(
        r"(?<![A-Za-z0-9_:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}(?:\.\d{1,3}){0,3}(?:%[A-Za-z0-9]+)?"
        r"(?![A-Za-z0-9_:.])"), _ip(6)),
    Kind("ipv4", re.compile(r"(?<![A-Za-z0-9_.-])(?:\d{1,3}\.){3}\d{1,3}(?![A-Za-z0-9_]|\.\d)"), _ip(4)),
)
KIND_NAMES = tuple(kind.name for kind in KINDS)


def replace_pii(text: str, kinds: tuple[str, ...] = KIND_NAMES, public_ips_only: bool = True
                ) -> tuple[str, dict[str, int]]:
    """`text` with every valid match of `kinds` replaced by its placeholder, and the count per kind."""
    counts: dict[str, int] = {}
    for kind in KINDS:
        if kind.name not in kinds:
            continue

        def substitute(match: re.Match, kind: Kind = kind) -> str:
            if not kind.valid(match, public_ips_only):
                return match.group(0)
            counts[kind.name] = counts.get(kind.name, 0) + 1
            return PLACEHOLDERS[kind.name]

        text = kind.pattern.sub(substitute, text)
    return text, counts
