"""Small camera-trap files made inside tests: JPEGs with EXIF/XMP/IPTC tags, broken JPEGs."""
from __future__ import annotations

import struct
from pathlib import Path

from PIL import Image

XMP_TEMPLATE = """<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:lr="http://ns.adobe.com/lightroom/1.0/" xmlns:digiKam="http://www.digikam.org/ns/1.0/">
<dc:subject><rdf:Bag>{subject}</rdf:Bag></dc:subject>
<lr:hierarchicalSubject><rdf:Bag>{hierarchy}</rdf:Bag></lr:hierarchicalSubject>
</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"""


def make_jpeg(path: Path, *, when: str | None = "2017:05:01 10:00:00", subject=(), hierarchy=(),
              iptc=(), xmp: str | bytes | None = None, color=(90, 120, 60), size=(48, 32)) -> Path:
    """A small JPEG with EXIF DateTimeOriginal, XMP dc:subject / lr:hierarchicalSubject and IPTC keywords."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, color)
    exif = Image.Exif()
    if when:
        exif.get_ifd(0x8769)[36867] = when
    if xmp is None and (subject or hierarchy):
        xmp = XMP_TEMPLATE.format(subject="".join(f"<rdf:li>{s}</rdf:li>" for s in subject),
                                  hierarchy="".join(f"<rdf:li>{h}</rdf:li>" for h in hierarchy))
    kwargs = {"exif": exif.tobytes()}
    if xmp is not None:
        kwargs["xmp"] = xmp.encode() if isinstance(xmp, str) else xmp
    image.save(path, "JPEG", **kwargs)
    if iptc:
        _insert_iptc_keywords(path, iptc)
    return path


def _insert_iptc_keywords(path: Path, keywords) -> None:
    """Add an APP13 Photoshop/IPTC block with Keywords (2:25) right after the SOI marker."""
    records = b"".join(b"\x1c\x02\x19" + struct.pack(">H", len(k.encode())) + k.encode() for k in keywords)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(records)) + records
    if len(records) % 2:
        resource += b"\x00"
    payload = b"Photoshop 3.0\x00" + resource
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    data = path.read_bytes()
    path.write_bytes(data[:2] + segment + data[2:])


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
