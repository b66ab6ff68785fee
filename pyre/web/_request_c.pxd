# Types for the compiled twin of pyre/web/request.py (see setup.py PURE_MODE).
cdef class HTTPConnection:
    # readonly: pyre.web.websocket.WebSocket, a Python subclass, reads them
    cdef readonly object _scope
    cdef object _head
    cdef readonly object _receive
    cdef readonly object _send
    # raw inputs
    cdef object _path
    cdef object _raw_path
    cdef object _query_raw
    cdef object _headers_raw
    cdef object _client_raw
    # set by the app
    cdef public object app
    cdef public object path_params
    # caches
    cdef object _headers
    cdef object _query
    cdef object _cookies
    cdef object _url
    cdef object _base_url
    cdef object _client
    cdef object _state


cdef class Request(HTTPConnection):
    cdef public object method
    # set by the app
    cdef public object max_body_size
    cdef public object form_limits
    # caches
    cdef object _content_type
    cdef object _content_length
    cdef object _body
    cdef object _json
    cdef object _form
    # body reading
    cdef object _consumer
    cdef object _received
    cdef bint _disconnected
    cdef object _pending


cdef object _init_connection(HTTPConnection connection, scope, receive, send)
cdef object _init_caches(HTTPConnection connection)
cdef object _init_request(Request request, method)
cdef object _init_from_head(Request request, head, receive, send)
