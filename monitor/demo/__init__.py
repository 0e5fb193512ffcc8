"""``driftd demo``: synthetic model traffic, the embedded broker and a live terminal view."""
