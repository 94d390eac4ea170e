"""Read a GGUF file's header — metadata and tensor table — without touching its tensor data.

Format (ggml docs/gguf.md, gguf-py ``GGUFReader``): ``GGUF`` magic, uint32 version (2 or 3),
uint64 tensor count, uint64 metadata count, then the key/value pairs, then one record per tensor
(name, n_dims, dims as uint64 with ne0 first, ggml type, offset into the data section). The reader
stops at the end of the tensor table, so a header-only prefix of a file (the first few MB of a
download) is enough, and a 20 GB file costs a few MB of reads.

Every count, length and dimension is bounded before anything is allocated: a hostile or
truncated header gives one ``DataFileError`` naming the file, the item and what is wrong.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from advisor.errors import DataFileError
from advisor.inputs import check_regular_file

GGUF_MAGIC = b"GGUF"
MAX_TENSORS = 100_000  # the largest published models have a few thousand tensors
MAX_KV = 100_000
MAX_STRING_BYTES = 1 << 24  # 16 MiB: chat templates are tens of KB
MAX_ARRAY_ITEMS = 1 << 24  # vocabularies and merges are below a million entries
#: strings are skipped one by one (each has its own length): 16 M of them took 16 s; 2 M is twice
#: the largest tokenizer table (merges) and a few seconds on a slow board
MAX_STRING_ARRAY_ITEMS = 1 << 21
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ELEMENTS = 1 << 48  # per tensor: far above any real model, far below int overflow
KEEP_ARRAY_ITEMS = 4096  # arrays longer than this (tokenizer tables) are kept as their length only

# value types (gguf.md GGUFValueType): id -> (struct format, size)
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
    6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8),
}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class ArrayLength:
    """A long array (e.g. the token list) that was skipped; only its length is kept."""

    item_type: int
    length: int


@dataclass(frozen=True)
class GgufTensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order: ne0 (row length) first
    ggml_type_id: int
    offset: int


@dataclass(frozen=True)
class GgufHeader:
    path: Path
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: tuple[GgufTensorInfo, ...] = ()
    header_bytes: int = 0  # bytes read: the end of the tensor table

    @property
    def architecture(self) -> str | None:
        arch = self.metadata.get("general.architecture")
        return arch if isinstance(arch, str) else None


class _Reader:
    def __init__(self, f: BinaryIO, path: Path) -> None:
        self.f, self.path = f, path
        self.size = os.fstat(f.fileno()).st_size

    def fail(self, what: str) -> DataFileError:
        return DataFileError(f"{self.path}: not a readable GGUF header: {what}")

    def read(self, n: int, what: str) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise self.fail(f"file ends inside {what} (truncated at byte {self.f.tell()})")
        return data

    def skip(self, n: int, what: str) -> None:
        # seek past without reading; the bytes must exist
        if self.f.tell() + n > self.size:
            raise self.fail(f"file ends inside {what}")
        self.f.seek(n, 1)

    def scalar(self, fmt: str, size: int, what: str) -> Any:
        return struct.unpack(fmt, self.read(size, what))[0]

    def u32(self, what: str) -> int:
        return self.scalar("<I", 4, what)

    def u64(self, what: str) -> int:
        return self.scalar("<Q", 8, what)

    def string(self, what: str) -> str:
        n = self.u64(f"the length of {what}")
        if n > MAX_STRING_BYTES:
            raise self.fail(f"{what} claims {n:,} bytes (limit {MAX_STRING_BYTES:,})")
        raw = self.read(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not UTF-8") from None

    def value(self, vtype: int, what: str, *, in_array: bool = False) -> Any:
        if vtype in _SCALARS:
            fmt, size = _SCALARS[vtype]
            return self.scalar(fmt, size, what)
        if vtype == _STRING:
            return self.string(what)
        if vtype == _ARRAY and not in_array:
            item_type = self.u32(f"the item type of {what}")
            n = self.u64(f"the length of {what}")
            if n > MAX_ARRAY_ITEMS:
                raise self.fail(f"{what} claims {n:,} items (limit {MAX_ARRAY_ITEMS:,})")
            if item_type not in _SCALARS and item_type != _STRING:
                raise self.fail(f"{what} has items of unknown type {item_type}")
            if item_type == _STRING and n > MAX_STRING_ARRAY_ITEMS:
                raise self.fail(f"{what} claims {n:,} strings (limit {MAX_STRING_ARRAY_ITEMS:,})")
            if n > KEEP_ARRAY_ITEMS:
                if item_type in _SCALARS:
                    self.skip(n * _SCALARS[item_type][1], what)
                else:
                    for _ in range(n):
                        self.skip(self._string_length(what), what)
                return ArrayLength(item_type, n)
            return [self.value(item_type, what, in_array=True) for _ in range(n)]
        raise self.fail(f"{what} has unknown value type {vtype}")

    def _string_length(self, what: str) -> int:
        n = self.u64(f"a string length in {what}")
        if n > MAX_STRING_BYTES:
            raise self.fail(f"a string in {what} claims {n:,} bytes (limit {MAX_STRING_BYTES:,})")
        return n


def read_gguf_header(path: str | Path) -> GgufHeader:
    """Parse the metadata and the tensor table of the GGUF file at ``path`` (never its data)."""
    path = Path(path)
    check_regular_file(path, expected="GGUF file")  # a FIFO or /dev/zero would block or never end
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot open the GGUF file ({exc.strerror or exc}); check the path") from None
    with f:
        r = _Reader(f, path)
        magic = f.read(4)
        if magic != GGUF_MAGIC:
            raise r.fail(f"magic is {magic!r}, expected b'GGUF' (is it a GGUF file?)")
        version = r.u32("the version")
        if version not in (2, 3):
            raise r.fail(f"version {version} is not supported (GGUF 2 or 3)")
        n_tensors = r.u64("the tensor count")
        n_kv = r.u64("the metadata count")
        if n_tensors > MAX_TENSORS:
            raise r.fail(f"tensor count {n_tensors:,} exceeds {MAX_TENSORS:,}")
        if n_kv > MAX_KV:
            raise r.fail(f"metadata count {n_kv:,} exceeds {MAX_KV:,}")
        metadata: dict[str, Any] = {}
        for i in range(n_kv):
            key = r.string(f"metadata key #{i}")
            if key in metadata:  # llama.cpp refuses such a file too (gguf.cpp: duplicate key)
                raise r.fail(f"metadata key '{key}' appears twice")
            vtype = r.u32(f"the type of '{key}'")
            metadata[key] = r.value(vtype, f"'{key}'")
        tensors: list[GgufTensorInfo] = []
        seen: set[str] = set()
        for i in range(n_tensors):
            name = r.string(f"the name of tensor #{i}")
            if name in seen:
                raise r.fail(f"tensor '{name}' appears twice in the tensor table")
            seen.add(name)
            n_dims = r.u32(f"the dimension count of '{name}'")
            if not 1 <= n_dims <= MAX_DIMS:
                raise r.fail(f"tensor '{name}' has {n_dims} dimensions (1 to {MAX_DIMS})")
            shape = tuple(r.u64(f"the dimensions of '{name}'") for _ in range(n_dims))
            elements = 1
            for d in shape:
                if d == 0:
                    raise r.fail(f"tensor '{name}' has a zero dimension {shape}")
                elements *= d
                if elements > MAX_ELEMENTS:
                    raise r.fail(f"tensor '{name}' has absurd dimensions {shape} (over {MAX_ELEMENTS:,} elements)")
            type_id = r.u32(f"the type of '{name}'")
            offset = r.u64(f"the data offset of '{name}'")
            tensors.append(GgufTensorInfo(name, shape, type_id, offset))
        return GgufHeader(path=path, version=version, metadata=metadata, tensors=tuple(tensors), header_bytes=f.tell())
