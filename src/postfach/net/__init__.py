"""The wire layer: what every protocol stands on, and nothing of what they mean.

It owns the listeners (`listeners`: accepting, implicit TLS, admission by
address, listener and descriptors, shutdown; `handover`: the supervisor's
hand-over of accepted sockets, with its count per client address),
TLS (`tls`: the certificate and the server context) and one connection's bytes
(`lines`: the bounded line reader, the batched writer, STARTTLS, the idle timer
and the login deadline), the PROXY protocol of a load balancer in front
(`proxyproto`: the pure parser and the trusted networks; `proxied`: the header
read off the accepted socket, before TLS) and the session id every log line of
a connection carries (`logcontext`). The protocols (imap/, pop3/, smtp/, web/)
frame on it.

It knows no store and no ServerContext: a listener gets a `ListenerEnv`, and
the per-address counts shared by workers arrive as a `ConnectionCounts`
(postfach.serving builds both from the context).
"""
