#!/usr/bin/env python3
"""Generates the hash test vectors shared with Powertools for Python.

For each payload: the text Python's `json.dumps(data, sort_keys=True)` produces (what Powertools
for Python hashes) and its MD5 hex digest. (The TypeScript vectors come from Powertools for
TypeScript itself: ../typescript/vectors.cjs.) Run from this folder:

    python3 generate.py > vectors.json
"""
import hashlib
import json

PAYLOADS = [
    {"user": "xyz", "product_id": "123456789"},
    {"b": 1, "a": 2, "c": {"z": True, "y": False, "x": None}},
    {"order": {"items": [{"sku": "BOOK-1984", "qty": 2}, {"sku": "PEN", "qty": 10}], "total": 27.5}},
    "just a string",
    12345,
    -17,
    0,
    18446744073709551615,
    -9223372036854775808,
    1.0,
    0.1,
    -0.0,
    1e16,
    1e15,
    123456789012345.6,
    1e-05,
    0.0001,
    1.5e-07,
    2.5e+300,
    3.141592653589793,
    100.0,
    [1, 2.0, "3", None, True, False, [], {}],
    {"unicode": "caf\u00e9 na\u00efve \u65e5\u672c \U0001F600", "emoji_key_\U0001F680": 1},
    {"escapes": "quote\" backslash\\ slash/ newline\n tab\t cr\r bell\u0007 del\u007f nul\u0000"},
    {"nested": {"deeper": {"deepest": [[[1]], {"k": [0.5, 1e100]}]}}},
    {"": "empty key", " ": "space key", "A": 1, "a": 2, "\u00e9": 3, "Z": 4},
    {"body": "{\"user\":\"xyz\",\"product_id\":\"123456789\"}"},
    [],
    {},
    None,
    True,
]


vectors = []
for payload in PAYLOADS:
    dumped = json.dumps(payload, sort_keys=True)
    vectors.append(
        {
            "payload": json.dumps(payload),
            "python_dumps": dumped,
            "md5_hex": hashlib.md5(dumped.encode()).hexdigest(),
        }
    )
print(json.dumps(vectors, indent=2))
