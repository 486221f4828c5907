"""The national axis (VXP) protocol, shared by both sides: the ``XroadVnpt-*`` HMAC headers
(:mod:`.headers`), the bodies (:mod:`.wire`) and a reusable server layer (:mod:`.server`) that the
simulator and a future VXP-compatible face of the gateway run over their own backends."""
