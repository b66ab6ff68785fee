"""Type stub for the Cython twin of ``pyre._pure.hpack`` (``hpack.Encoder``/``Decoder``)."""

from typing import Any, Dict, Iterable, List, Tuple, Union

from hpack import HeaderTuple

__all__ = ["Decoder", "Encoder"]

DEFAULT_MAX_HEADER_LIST_SIZE: int

class HeaderTableView:
    """A snapshot of a dynamic table (newest entry first)."""

    maxsize: int
    resized: bool
    current_size: int
    dynamic_entries: List[Tuple[bytes, bytes]]

class Encoder:
    """HPACK encoder: the same bytes as ``hpack.Encoder`` for the same calls."""

    def __init__(self) -> None: ...
    header_table_size: int
    @property
    def table_size_changes(self) -> List[int]: ...
    @property
    def header_table(self) -> HeaderTableView: ...
    def encode(
        self,
        headers: Union[Iterable[Union[HeaderTuple, Tuple[Any, Any], Tuple[Any, Any, Any]]], Dict[Any, Any]],
        huffman: bool = True,
    ) -> bytes: ...
    def add(self, to_add: Tuple[bytes, bytes], sensitive: bool, huffman: bool = False) -> bytes: ...

class Decoder:
    """HPACK decoder: the same header lists and exceptions as ``hpack.Decoder``."""

    max_header_list_size: int
    max_allowed_table_size: int
    header_table_size: int
    def __init__(self, max_header_list_size: int = ...) -> None: ...
    @property
    def header_table(self) -> HeaderTableView: ...
    def decode(self, data: Union[bytes, bytearray, memoryview], raw: bool = False) -> List[HeaderTuple]: ...
    def decode_pairs(self, data: Union[bytes, bytearray, memoryview]) -> List[Tuple[bytes, bytes]]: ...
