"""The national axis (VXP) protocol, shared by both sides: the ``XroadVnpt-*`` HMAC headers
(:mod:`.headers`), the bodies and refusals (:mod:`.wire`) and a look at a package's header
(:mod:`.peek`). The servers that speak it are above: the REST face (:mod:`gateway.restface`) and
the axis simulator; the relay's VXP connector is its client."""
