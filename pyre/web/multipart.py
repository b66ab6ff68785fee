"""Form parsing for ``pyre.web``, with limits: urlencoded bodies (in memory, bounded)
and ``multipart/form-data`` streamed through python-multipart (the ``pyre-server[web]``
extra), files spooled to disk past a threshold.

Bad input never becomes a 500: a malformed body is ``HTTPError(400)``, a body over a
limit ``HTTPError(413)``; on any error the files made so far are closed.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any, List, Optional, Tuple, Union

from .datastructures import SPOOL_THRESHOLD, ContentType, FormData, Headers, UploadFile, parse_options_header, parse_query
from .errors import HTTPError

__all__ = ["DEFAULT_FORM_LIMITS", "FormLimits", "MultipartParser", "parse_urlencoded"]

#: A part may have this many header lines, of this many bytes in all (else 400).
MAX_PART_HEADERS = 16
MAX_PART_HEADER_BYTES = 8192
#: RFC 2046 allows 70 characters; a little slack for lenient clients.
MAX_BOUNDARY_LENGTH = 200

_MISSING_EXTRA = "parsing multipart/form-data needs python-multipart: pip install 'pyre-server[web]'"


@dataclasses.dataclass(frozen=True)
class FormLimits:
    """Bounds on a form a client may send. Over a bound the request gets 413.

    - ``max_fields``: non-file fields; ``max_files``: files.
    - ``max_part_size``: bytes of one non-file field's value; also of a whole
      urlencoded body (it is held in memory, as fields are).
    - ``max_file_size``: bytes of one file (None: bounded by the body size only).
    - ``max_body_size``: bytes of the whole form body, in addition to the request's
      ``max_body_size`` (None: only that one).
    - ``spool_threshold``: a file larger than this moves from memory to a temporary file.
    """

    max_fields: int = 1000
    max_files: int = 1000
    max_part_size: int = 1024 * 1024
    max_file_size: Optional[int] = None
    max_body_size: Optional[int] = None
    spool_threshold: int = SPOOL_THRESHOLD


DEFAULT_FORM_LIMITS = FormLimits()


def _malformed(reason: str) -> HTTPError:
    return HTTPError(400, f"Malformed multipart body: {reason}")


def parse_urlencoded(body: bytes, limits: FormLimits) -> FormData:
    """The fields of an ``application/x-www-form-urlencoded`` body."""
    if len(body) > limits.max_part_size:
        raise HTTPError(413, f"Form body larger than {limits.max_part_size} bytes")
    pairs = parse_query(body)
    if len(pairs) > limits.max_fields:
        raise HTTPError(413, f"Form has more than {limits.max_fields} fields")
    return FormData(pairs)


def _python_multipart() -> ModuleType:
    try:
        import python_multipart.multipart as module
    except ImportError:
        raise ImportError(_MISSING_EXTRA, name="python_multipart") from None
    return module


class MultipartParser:
    """Sans-IO ``multipart/form-data`` parser: ``feed`` it body chunks as they arrive,
    then ``finish()`` gives the :class:`FormData`; ``abort()`` closes the files made
    when parsing stops early.

    Field values decode as UTF-8 (invalid bytes become U+FFFD), as browsers send them;
    names and filenames too (browsers send them raw, ``"`` as ``%22``, kept as it is).
    File data is written as it arrives: into memory, past ``spool_threshold`` into a
    temporary file. Those writes are synchronous, each at most one received chunk into
    the page cache; a worker thread per chunk would cost more than the write.
    """

    def __init__(self, content_type: ContentType, limits: FormLimits = DEFAULT_FORM_LIMITS) -> None:
        boundary = content_type.params.get("boundary", "")
        if not boundary:
            raise _malformed("no boundary in the Content-Type")
        if len(boundary) > MAX_BOUNDARY_LENGTH:
            raise _malformed(f"boundary longer than {MAX_BOUNDARY_LENGTH} characters")
        try:
            boundary_bytes = boundary.encode("latin-1")
        except UnicodeEncodeError:
            raise _malformed("non-latin-1 boundary") from None
        module = _python_multipart()
        self._errors: Tuple[type[Exception], ...] = (module.FormParserError,)  # base of its parse errors
        self._limits = limits
        self._items: List[Tuple[str, Union[str, UploadFile]]] = []
        self._files: List[UploadFile] = []
        self._fields = 0
        self._ended = False
        self._headers: List[Tuple[bytes, bytes]] = []
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._header_bytes = 0
        self._name = ""
        self._data: Optional[bytearray] = None
        self._file: Optional[UploadFile] = None
        self._size = 0
        self._parser = module.MultipartParser(
            boundary_bytes,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    def feed(self, data: bytes) -> None:
        """Parse the next chunk of the body."""
        try:
            written = self._parser.write(data)
        except self._errors as exc:
            raise _malformed(str(exc).split("\n", 1)[0]) from None
        if written != len(data):
            raise _malformed("unparseable data")

    def finish(self) -> FormData:
        """The parsed form, once the whole body was fed."""
        if not self._ended:
            raise _malformed("the body ended before the closing boundary")
        return FormData(self._items)

    def abort(self) -> None:
        """Close every file made so far (parsing stopped on an error)."""
        for upload in self._files:
            upload.file.close()

    # -- python-multipart callbacks --------------------------------------------------

    def _on_part_begin(self) -> None:
        self._headers = []
        self._header_bytes = 0
        self._size = 0

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_PART_HEADER_BYTES:
            raise _malformed(f"a part's headers are larger than {MAX_PART_HEADER_BYTES} bytes")

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers.append((bytes(self._header_name).lower(), bytes(self._header_value)))
        self._header_name.clear()
        self._header_value.clear()
        if len(self._headers) > MAX_PART_HEADERS:
            raise _malformed(f"a part has more than {MAX_PART_HEADERS} headers")

    def _on_headers_finished(self) -> None:
        headers = Headers(self._headers)
        disposition = None
        for header_name, header_value in self._headers:
            if header_name == b"content-disposition":
                # Browsers send names and filenames as raw UTF-8.
                disposition = parse_options_header(header_value.decode("utf-8", "replace"))
                break
        if disposition is None:
            raise _malformed("a part has no Content-Disposition header")
        name = disposition.params.get("name")
        if name is None:
            raise _malformed("a part's Content-Disposition has no name")
        self._name = name
        limits = self._limits
        filename = disposition.params.get("filename")
        if filename is None:
            self._fields += 1
            if self._fields > limits.max_fields:
                raise HTTPError(413, f"Form has more than {limits.max_fields} fields")
            self._data = bytearray()
            self._file = None
        else:
            if len(self._files) >= limits.max_files:
                raise HTTPError(413, f"Form has more than {limits.max_files} files")
            upload = UploadFile(
                filename=filename,
                content_type=headers.get("content-type"),
                headers=headers,
                spool_threshold=limits.spool_threshold,
            )
            self._files.append(upload)
            self._file = upload
            self._data = None

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._size += end - start
        upload = self._file
        if upload is None:
            if self._size > self._limits.max_part_size:
                raise HTTPError(413, f"Form field {self._name!r} larger than {self._limits.max_part_size} bytes")
            assert self._data is not None
            self._data += data[start:end]
        else:
            limit = self._limits.max_file_size
            if limit is not None and self._size > limit:
                raise HTTPError(413, f"File {self._name!r} larger than {limit} bytes")
            upload.file.write(memoryview(data)[start:end])

    def _on_part_end(self) -> None:
        upload = self._file
        value: Any
        if upload is None:
            assert self._data is not None
            value = self._data.decode("utf-8", "replace")
            self._data = None
        else:
            upload.size = self._size
            upload.file.seek(0)
            value = upload
            self._file = None
        self._items.append((self._name, value))

    def _on_end(self) -> None:
        self._ended = True
