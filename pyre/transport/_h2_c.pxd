# Augmenting declarations for pyre/transport/h2.py, compiled by setup.py as the
# extension pyre.transport._h2_c (Cython pure-Python mode: the .py is the source, this
# file only types it). H2Stream and _H2Connection (the body of H2Protocol) become cdef
# classes: their fields C fields (public, as the pure twin's slots are), the per-request
# path C calls. A method left ``def`` holds a generator expression or is not hot.

import cython

cdef class _H2Connection


cdef class H2Stream:
    cdef public _H2Connection conn
    cdef public long long stream_id
    cdef public object cycle, request
    cdef public bint closed
    cdef public double deadline
    cdef public object _head, _status, _content_length, _trailers_after_pending, _waiter
    cdef public bint _no_body, _end_after_pending, _trailers, _withholding, _request_complete, _finished
    cdef public bint _app_done, _aborted, _track, websocket, may_discard, discarding
    cdef public long long _sent, _pending_size, _withheld, _stop_code, _bytes_out, _bytes_in, _body_room
    cdef public list _pending
    cdef public double _send_by, _body_by, _body_budget, _waiting_since, _t0

    @cython.locals(budget=double, limit=double)
    cpdef data(self, data, long long flow_length)
    cpdef ended(self, trailers=*)
    cpdef reset(self)
    cdef _disconnect_cycle(self, cycle)
    @cython.locals(now=double)
    cpdef body_wait_started(self)
    cpdef body_wait_ended(self)
    @cython.locals(spent=double, budget=double)
    cdef _stop_body_wait(self)
    @cython.locals(send_by=double, body_by=double)
    cdef _set_deadline(self)
    cdef _unblock(self)
    cdef _clear_timers(self)
    cpdef expire(self, double now)
    cdef _body_timeout(self)
    cdef _body_too_large(self)
    cpdef start_response(self, status, headers, trailers)
    cdef _send_head(self, bint end_stream)
    cpdef send_body(self, data, more_body)
    cdef _send_part(self, data, bint end)
    @cython.locals(conn=_H2Connection, sid=cython.longlong, pending=list, progress=bint, last=bint, end=bint,
                   sent=Py_ssize_t)
    cpdef pump(self)
    @cython.locals(conn=_H2Connection)
    cdef _wait_for_window(self, bint progress)
    cpdef _wake(self)
    cpdef waiting_for_body(self, waiting)
    cpdef pause_reading(self)
    cpdef resume_reading(self)
    cpdef response_complete(self)
    cdef _discard(self)
    cpdef stop_discarding(self)
    @cython.locals(conn=_H2Connection)
    cpdef report(self)
    cpdef send_error_response(self, status)
    cpdef abort(self)
    cdef _abort_stream(self, long long error_code=*)


cdef class _H2Connection:
    cdef public object ctx, loop, transport, session, info, _client_text, _defaults_key
    cdef public dict streams, blocked
    cdef public set _timed
    cdef public double deadline, _quiet_since, _idle_at, _next_stream, _stall_at
    cdef public bint write_paused, _closed, _closing, _draining, _flush_scheduled, _in_read, _ping_outstanding, _held
    cdef public list _defaults
    cdef public dict _scope_template, _task_kwargs
    cdef public frozenset _default_names, _proxy_names
    cdef public object _proxy
    cdef public long long queued, _stall_size, body_limit

    @cython.locals(stream=H2Stream, now=double)
    cpdef data_received(self, data)
    @cython.locals(stream=H2Stream, first=bint, end_stream=bint)
    cdef _on_request(self, event)
    @cython.locals(scope=dict, extensions=dict, path=str, raw_path=bytes, root_path=str)
    cdef dict _http_scope(self, event)
    @cython.locals(stream=H2Stream)
    cdef _window_updated(self, stream_id)
    cpdef forget(self, H2Stream stream)
    @cython.locals(when=double)
    cpdef timed(self, H2Stream stream)
    cpdef schedule_flush(self)
    cpdef flush(self)
