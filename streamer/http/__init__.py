"""Talking to vendors: the HTTP client (retries, status policy, size cap), authentication,
paging, tolerant decoding and repair of the JSON slips the vendors' documents contain."""
