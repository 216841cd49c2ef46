from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    source: str
    page: int | None
    heading: str
    language: str
    analyst: str
    file_sha256: str
    ocr: bool
    tags: tuple[str, ...] = ()
