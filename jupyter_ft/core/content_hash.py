"""A digest of a table's logical content, fed batch by batch.

It depends on the values only, not on how they are split into batches or laid out in memory (offsets, slices,
validity buffers): each column feeds its value lengths and bytes in order, so the same rows read from JSONL, a
DataFrame or the hub give the same digest, and a file of any size is hashed in one streaming pass.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


class ContentHash:
    def __init__(self, names: list[str]):
        self.names = list(names)
        self._h = {n: hashlib.sha256() for n in self.names}
        self.rows = 0

    def update(self, table) -> None:
        for n in self.names:
            col = table.column(n)
            for chunk in col.chunks:
                _feed(self._h[n], chunk)
        self.rows += table.num_rows

    def hexdigest(self, extra: dict[str, Any]) -> str:
        top = hashlib.sha256()
        top.update(json.dumps(extra, sort_keys=True, default=str).encode())
        top.update(str(self.rows).encode())
        for n in self.names:
            top.update(n.encode() + b"\x00" + self._h[n].digest())
        return top.hexdigest()


def _feed(h, arr) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if len(arr) == 0:
        return
    if arr.null_count:
        h.update(b"V" + np.asarray(arr.is_valid(), dtype=np.uint8).tobytes())
    if pa.types.is_null(t):
        h.update(b"N%d" % len(arr))
    elif pa.types.is_dictionary(t):
        _feed(h, arr.dictionary_decode())
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        b = arr.cast(pa.large_binary()) if not pa.types.is_large_binary(t) else arr
        if b.null_count:  # bytes under null slots are not content
            b = pc.fill_null(b, b"")
        h.update(b"S" + pc.binary_length(b).to_numpy(zero_copy_only=False).astype(np.int64).tobytes())
        off = np.frombuffer(b.buffers()[1], dtype=np.int64, count=b.offset + len(b) + 1)[b.offset:]
        data = b.buffers()[2]
        if data is not None and off[-1] > off[0]:
            h.update(memoryview(data)[off[0]:off[-1]])
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        h.update(b"L" + pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64).tobytes())
        _feed(h, pc.list_flatten(arr))
    elif pa.types.is_struct(t):
        kids = dict(zip([t.field(i).name for i in range(t.num_fields)], arr.flatten()))
        for name in sorted(kids):
            h.update(b"F" + name.encode() + b"\x00")
            _feed(h, kids[name])
    elif pa.types.is_boolean(t) or pa.types.is_integer(t):
        h.update(b"I" + pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False).tobytes())
    elif pa.types.is_floating(t) or pa.types.is_decimal(t):
        h.update(b"D" + pc.fill_null(arr.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False).tobytes())
    else:  # dates, times, maps, unions...: their text form
        try:
            _feed(h, arr.cast(pa.string()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            h.update(json.dumps(arr.to_pylist(), default=str).encode())
