"""Type stub of the native reader (policylang/_scan.c): see policylang.ingest, "the native reader"."""

from typing import Any

# The local years an instant may name (records.FIRST_YEAR + 1, records.LAST_YEAR - 1).
YEARS: tuple[int, int]

def scan(
    document: bytes | str, vocabulary: tuple[tuple[tuple[bytes, str], ...], ...], /
) -> (
    tuple[
        dict[str, list[Any]],
        list[int],
        dict[str, list[int]],
        bytes,
        tuple[str, str, str, int, str | None, int | None, str | None],
    ]
    | None
): ...
