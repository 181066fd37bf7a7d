#!/usr/bin/env python3
"""Generates the hash test vectors shared with Powertools for Python.

For each payload: the text Python's `json.dumps(data, sort_keys=True)` produces (what Powertools
for Python hashes) and its MD5 hex digest, plus the TypeScript-compatible form (MD5, base64, of
the compact key-sorted JSON as JavaScript prints it). Run from this folder:

    python3 generate.py > vectors.json
"""
import base64
from decimal import Decimal
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


def js_number(value):
    """JSON.stringify's number formatting (ECMAScript Number::toString), applied to the double
    JavaScript would parse the number into."""
    if isinstance(value, bool):
        return "true" if value else "false"
    f = float(value)
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    t = Decimal(repr(abs(f))).as_tuple()
    digits = "".join(map(str, t.digits))
    n = len(digits) + t.exponent
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
        body = f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + body


def js_dumps(data):
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, (int, float)):
        return js_number(data)
    if isinstance(data, str):
        return json.dumps(data, ensure_ascii=False)
    if isinstance(data, list):
        return "[" + ",".join(js_dumps(v) for v in data) + "]"
    keys = sorted(data.keys())
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + js_dumps(data[k]) for k in keys) + "}"


vectors = []
for payload in PAYLOADS:
    dumped = json.dumps(payload, sort_keys=True)
    js = js_dumps(payload)
    vectors.append(
        {
            "payload": json.dumps(payload),
            "python_dumps": dumped,
            "md5_hex": hashlib.md5(dumped.encode()).hexdigest(),
            "js_dumps": js,
            "md5_base64": base64.b64encode(hashlib.md5(js.encode()).digest()).decode(),
        }
    )
print(json.dumps(vectors, indent=2))
