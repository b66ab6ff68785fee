# Augmenting declarations for pyre/protocol/h2/session.py, compiled by setup.py as the
# extension pyre.protocol.h2._session_c (Cython pure-Python mode: the .py is the source,
# this file only types it). The constants become C globals, the session, its streams,
# windows and buckets cdef classes, the helpers C functions. A local typed ``cbytes``
# (or ``wbuf``) is a pointer into the bytes (bytearray) it is assigned from: in the pure
# twin that name is the object itself, and indexing it means the same.

import cython

ctypedef const unsigned char* cbytes
ctypedef unsigned char* wbuf

cdef int DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION
cdef int F_END_STREAM, F_ACK, F_END_HEADERS, F_PADDED, F_PRIORITY
cdef long long NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, STREAM_CLOSED, FRAME_SIZE_ERROR
cdef long long REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM
cdef int S_OPEN, S_HALF_CLOSED_LOCAL, S_HALF_CLOSED_REMOTE, S_CLOSED
cdef int BY_NONE, BY_RECV_END, BY_SEND_END, BY_RECV_RST, BY_SEND_RST
cdef long long MAX_WINDOW, MAX_CLOSED_STREAMS, FRAME_COST, SEND_SHARE, RECEIVE_SHARE, INFLIGHT_FRAME, MAX_CREDIT
cdef long long REOPEN_PAID
cdef int SET_HEADER_TABLE_SIZE, SET_ENABLE_PUSH, SET_MAX_CONCURRENT_STREAMS, SET_INITIAL_WINDOW_SIZE
cdef int SET_MAX_FRAME_SIZE, SET_MAX_HEADER_LIST_SIZE, SET_ENABLE_CONNECT_PROTOCOL
cdef unsigned char C_NAME, C_ANY_NAME, C_VALUE, C_SCHEME, C_TARGET, C_AUTHORITY, C_ALPHA

cdef bytes _HEAD_ROOM, _U32_ROOM, _CLASS_TABLE
cdef cbytes _CLASS
cdef frozenset _DROPPED_ON_SEND
cdef list _STATUS

@cython.locals(p=cbytes, n=Py_ssize_t, i=Py_ssize_t)
cdef bint _all_of(bytes value, unsigned char cls, bint nonempty) except -1

@cython.locals(p=cbytes, n=Py_ssize_t)
cdef bint _valid_request_value(bytes value) except -1

@cython.locals(p=cbytes)
cdef bint _valid_scheme(bytes value) except -1

@cython.locals(p=cbytes, n=Py_ssize_t, i=Py_ssize_t)
cdef bint _valid_digits(bytes value) except -1

@cython.locals(p=cbytes, value=cython.ulonglong)
cdef inline unsigned long long _u32(bytes view, Py_ssize_t pos) except? 0xFFFFFFFFFFFFFFFF

cdef inline long long _u31(bytes view, Py_ssize_t pos) except? -1

cdef inline bytes _b(object value)

@cython.locals(name=bytes, value=bytes, method=bytes, scheme=bytes, path=bytes, authority=bytes, protocol=bytes, earlier=bytes,
               host=bytes, cookie_at=Py_ssize_t, cookies=list, regular=list, in_pseudo=bint, n=Py_ssize_t,
               expect_continue=bint,
               p=cbytes, q=Py_ssize_t, query=bytes, size=Py_ssize_t)
cdef object _parse_request(int stream_id, object headers, bint end_stream, bint allow_protocol, long long max_size)

@cython.locals(out=list, name=bytes, value=bytes)
cdef list _parse_trailers(object headers)

@cython.locals(total=Py_ssize_t)
cdef Py_ssize_t _field_list_size(object headers) except -1

@cython.locals(p=cbytes, i=Py_ssize_t)
cdef bytes _lower_name(bytes name)

@cython.locals(p=cbytes, n=Py_ssize_t)
cdef bytes _strip_value(bytes value)

@cython.locals(name=bytes, value=bytes, fields=list, has_length=bint)
cpdef tuple response_head(object status, object headers)


cdef class _Bucket:
    cdef double capacity, rate, level, stamp
    cdef bint stamped

    @cython.locals(level=double)
    cdef bint hit(self, double now) except -1


cdef class _Window:
    cdef long long current, maximum, processed

    @cython.locals(increment=cython.longlong, max_increment=cython.longlong, threshold=cython.longlong)
    cdef long long process(self, long long size) except? -1


cdef class _Stream:
    cdef int sid
    cdef int state
    cdef int closed_by
    cdef bint trailers_received
    cdef long long out_window
    cdef _Window inbound
    cdef bint known
    cdef long long expected
    cdef long long received
    cdef long long unacked
    cdef bint remote_ended
    cdef bint head_sent
    cdef bint discarding
    cdef long long reopened


cdef class H2Session:
    cdef readonly object settings
    cdef object _encoder, _decoder, _decode_pairs
    cdef dict _streams
    cdef list _closing
    cdef dict _closed_by
    cdef object _closed_order
    cdef Py_ssize_t _closed_next
    cdef bytearray _inbuf
    cdef bytearray _out
    cdef Py_ssize_t _keep
    cdef bint _initiated, _preface_pending, _expect_settings, _dead, _goaway_sent
    cdef int _block_stream, _block_frames
    cdef long long _block_bytes
    cdef int _block_flags
    cdef int _block_sid_pending
    cdef long long _block_depends
    cdef bytearray _block
    cdef _Bucket _control, _resets
    cdef long long _credit, _reopened
    cdef double _now
    cdef set _seen_windows
    cdef list _events
    cdef int _highest_in
    cdef int _refuse_above
    cdef int _open_count
    cdef long long _out_window
    cdef _Window _inbound
    cdef long long _max_in_frame, _max_out_frame
    cdef long long _remote_initial
    cdef long long _local_initial
    cdef list _pending_local
    cdef dict _remote_settings
    cdef long long _max_streams, _max_list_size, _decode_cap
    cdef bint _connect_protocol

    @cython.locals(out=bytearray, at=Py_ssize_t, p=wbuf)
    cdef void _frame_head(self, Py_ssize_t length, int ftype, int flags, unsigned int sid) except *
    @cython.locals(out=bytearray, at=Py_ssize_t, p=wbuf)
    cdef void _put_u32(self, unsigned long long value) except *
    cdef void _u32_frame(self, int ftype, unsigned int sid, unsigned long long value) except *
    cdef void _window_update(self, unsigned int sid, long long increment) except *
    cdef void _rst(self, unsigned int sid, unsigned long long code) except *
    cdef void _goaway(self, unsigned int last, unsigned long long code) except *
    cdef void _settings_frame(self, list pairs) except *
    @cython.locals(size=Py_ssize_t, step=Py_ssize_t, pos=Py_ssize_t, n=Py_ssize_t, flags=int, first=bint)
    cdef void _header_block(self, int sid, bytes block, bint end_stream) except *

    cdef void _set_closed(self, _Stream stream, int by) except *
    @cython.locals(stream=_Stream, closed_by=dict, oldest=Py_ssize_t)
    cdef void _cleanup(self) except *
    @cython.locals(stream=_Stream)
    cdef int _closed_by_of(self, int sid) except? -1
    @cython.locals(stream=_Stream)
    cdef _Stream _new_stream(self, int sid)
    cdef void _send_rst(self, _Stream stream, unsigned long long code) except *

    cdef list _local_settings(self)
    @cython.locals(pairs=list, extra=cython.longlong, window=_Window)
    cdef void _queue_preface(self) except *

    @cython.locals(events=list)
    cpdef list receive_data(self, object data, double now)
    @cython.locals(buf=bytearray, have=Py_ssize_t, pos=Py_ssize_t, size=Py_ssize_t, end=Py_ssize_t, p=cbytes,
                   length=cython.uint, sid=cython.uint, ftype=int, flags=int, view=bytes)
    cdef void _receive(self, object data) except *
    cdef bint _check_header(self, unsigned int length, int ftype, unsigned int sid) except -1
    cdef void _earn(self, long long credit) except *
    cdef bint _control_frame(self) except -1
    cdef bint _is_idle(self, unsigned int sid) except -1
    @cython.locals(p=cbytes, stream=_Stream, data_length=cython.longlong)
    cdef void _frame(self, bytes view, Py_ssize_t offset, unsigned int length, int ftype, int flags, unsigned int sid) except *
    @cython.locals(p=cbytes, pad=Py_ssize_t, start=Py_ssize_t, block=bytes)
    cdef void _dispatch(self, bytes view, Py_ssize_t offset, unsigned int length, int ftype, int flags, unsigned int sid) except *
    @cython.locals(p=cbytes, pad=Py_ssize_t, head=Py_ssize_t, body_len=Py_ssize_t, depends=cython.longlong, block=bytes)
    cdef void _on_headers_frame(self, bytes view, Py_ssize_t offset, unsigned int length, int flags, unsigned int sid) except *
    @cython.locals(stream=_Stream, refuse=bint, end_stream=bint, is_request=bint, by=int)
    cdef void _on_header_block(self, int sid, bytes block, int flags, long long depends) except *
    cdef void _header_reset(self, _Stream stream, unsigned long long code) except *
    cdef void _on_request(self, int sid, _Stream stream, object headers, bint end_stream) except *
    cdef void _refuse_large(self, int sid, _Stream stream) except *
    cdef void _on_trailers(self, int sid, _Stream stream, object fields) except *
    @cython.locals(window=_Window, stream=_Stream, size=cython.longlong, padding=cython.longlong,
                   expected=cython.longlong)
    cdef void _on_data_frame(self, unsigned int sid, bytes data, long long flow_length, bint end_stream) except *
    cdef void _data_on_closed(self, unsigned int sid, long long flow_length) except *
    @cython.locals(stream=_Stream)
    cdef void _on_stream_ended(self, int sid) except *
    @cython.locals(p=cbytes, i=Py_ssize_t, values=dict)
    cdef void _on_settings(self, bytes view, Py_ssize_t offset, unsigned int length) except *
    @cython.locals(stream=_Stream, delta=cython.longlong)
    cdef void _apply_remote_settings(self, dict values) except *
    @cython.locals(stream=_Stream, delta=cython.longlong, window=_Window, changes=dict)
    cdef void _local_settings_acked(self) except *
    @cython.locals(stream=_Stream)
    cdef void _on_window_update(self, unsigned int sid, long long increment) except *
    @cython.locals(stream=_Stream)
    cdef void _on_rst(self, unsigned int sid, unsigned long long code) except *
    @cython.locals(last=cython.uint, code=cython.ulonglong)
    cdef void _on_goaway(self, bytes view, Py_ssize_t offset, unsigned int length) except *
    @cython.locals(stream=_Stream)
    cdef void _on_reset(self, int sid, unsigned long long code, bint remote) except *
    @cython.locals(stream=_Stream)
    cdef void _window_updated(self, int sid) except *
    @cython.locals(stream=_Stream)
    cdef void _stream_error(self, int sid, unsigned long long code) except *
    @cython.locals(stream=_Stream)
    cdef void _priority_error(self, unsigned int sid, unsigned long long code, str reason) except *
    cdef void _fail(self, unsigned long long code, str reason) except *

    @cython.locals(increment=cython.longlong)
    cdef void _ack_connection(self, long long size) except *
    @cython.locals(increment=cython.longlong)
    cdef void _acknowledge(self, _Stream stream, long long size) except *
    cdef void _release(self, _Stream stream) except *
    cdef void _maybe_closed(self, _Stream stream) except *
    @cython.locals(stream=_Stream)
    cdef _Stream _sendable(self, object sid)
    cdef int _open_inbound(self) except -1

    @cython.locals(out=bytearray)
    cpdef bytes data_to_send(self)
    @cython.locals(stream=_Stream)
    cpdef send_head(self, object stream_id, list fields, bint end_stream)
    cdef void _send_header_block(self, _Stream stream, list fields, bint end_stream) except *
    cdef void _end_local(self, _Stream stream) except *
    @cython.locals(total=Py_ssize_t, sent=Py_ssize_t, limit=Py_ssize_t, size=Py_ssize_t, frame_size=Py_ssize_t,
                   window=cython.longlong, earned=cython.longlong, stream=_Stream, chunk=bytes)
    cpdef Py_ssize_t send_data(self, object stream_id, object data, bint end_stream) except -1
    @cython.locals(stream=_Stream, window=cython.longlong)
    cpdef long long send_window(self, object stream_id) except -1
    cpdef bint can_send(self, object stream_id) except -1
    @cython.locals(stream=_Stream)
    cpdef acknowledge_received(self, object stream_id, long long n)
    @cython.locals(stream=_Stream, n=cython.longlong)
    cpdef bint discard_request(self, object stream_id) except -1
    @cython.locals(stream=_Stream, window=cython.longlong)
    cpdef reset_stream(self, object stream_id, unsigned long long error_code=*)
