"""Input formats other than driftd's native events: what model servers already emit.

Each format turns one Kafka message into native event bodies (one per row of a batch),
which then go through the native decoder's validation, so every format yields exactly the
events, and the dead-letter reasons, that the equivalent native messages would.
``dispatch.InputDecoder`` picks the format per topic; topics not configured stay native.
"""
