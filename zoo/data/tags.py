"""Read capture time and keyword tags from image files (EXIF, XMP, IPTC).

Photo managers store labels in different places: digiKam and Lightroom write XMP `dc:subject` and
`lr:hierarchicalSubject` ('a|b|c'), digiKam also `digiKam:TagsList` ('a/b/c'), exiftool and older
tools IPTC Keywords. We read them all and keep the leaf of every hierarchical tag.
"""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from PIL import Image, IptcImagePlugin, UnidentifiedImageError

log = logging.getLogger(__name__)

EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 36867
DATETIME = 306
IPTC_KEYWORDS = (2, 25)

_NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
}
# (element path, separator of its hierarchy levels or None)
_XMP_TAG_FIELDS = (
    ("dc:subject", None),
    ("lr:hierarchicalSubject", "|"),
    ("digiKam:TagsList", "/"),
)


@dataclass
class ImageTags:
    """What one image file tells about itself."""

    datetime_original: str | None = None
    tags: list[str] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    problems: list[str] = field(default_factory=list)


# what the folder reader and zoo.images look for; any of them goes through `read_image_tags`
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")


def read_image_tags(path) -> ImageTags:
    """Read size, capture time and keyword tags; problems are reported, never raised.

    The pixels are decoded first (cheaply, see `decode_cheaply`) whatever the format, so a truncated or
    corrupt file is caught here, at ingestion, rather than mid-training.
    """
    info = ImageTags()
    try:
        with Image.open(path) as im:
            info.width, info.height = im.size
            decode_cheaply(im)
            info.datetime_original = _exif_datetime(im, info)
            xmp = im.info.get("xmp")
            tags = _xmp_tags(xmp, info) if xmp else []
            tags += _iptc_keywords(im, info)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        info.problems.append(f"unreadable image: {err or type(err).__name__}")
        return info
    info.tags = list(dict.fromkeys(t for t in tags if t))
    return info


def decode_cheaply(im: Image.Image) -> None:
    """Decode the whole file at reduced size; raises OSError on truncated or corrupt data.

    `Image.verify` only walks a JPEG's markers (a file cut inside its image data passes) and cannot follow
    other reads (PNG). A JPEG drafted to 1/8 scale still reads every entropy-coded byte to the end but skips
    most of the inverse DCT; other formats are small enough to decode fully.
    """
    if im.format == "JPEG":
        im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
    im.load()


def _exif_datetime(im: Image.Image, info: ImageTags) -> str | None:
    try:
        exif = im.getexif()
        value = exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL) or exif.get(DATETIME)
    except Exception as err:  # PIL raises many types on broken EXIF blocks
        info.problems.append(f"unreadable EXIF: {err}")
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    value = value.strip("\x00 ") if value else None
    if not value:
        info.problems.append("no EXIF capture time")
    return value or None


def _xmp_tags(xmp: bytes | str, info: ImageTags) -> list[str]:
    try:
        root = ET.fromstring(xmp.strip(b"\x00 ") if isinstance(xmp, bytes) else xmp.strip())
    except ET.ParseError as err:
        info.problems.append(f"unreadable XMP: {err}")
        return []
    tags: list[str] = []
    for name, separator in _XMP_TAG_FIELDS:
        for element in root.iter(_qualified(name)):
            for li in element.iter(_qualified("rdf:li")):
                text = (li.text or "").strip()
                if text:
                    tags.append(text.split(separator)[-1].strip() if separator else text)
    return tags


def _iptc_keywords(im: Image.Image, info: ImageTags) -> list[str]:
    try:
        iptc = IptcImagePlugin.getiptcinfo(im) or {}
    except Exception as err:  # malformed IPTC blocks raise from deep inside PIL
        info.problems.append(f"unreadable IPTC: {err}")
        return []
    value = iptc.get(IPTC_KEYWORDS, [])
    values = value if isinstance(value, list) else [value]
    return [v.decode("utf-8", "replace").strip() for v in values]


def _qualified(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{_NS[prefix]}}}{local}"
