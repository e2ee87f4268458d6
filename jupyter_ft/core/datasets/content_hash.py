"""A digest of a table's logical content, fed batch by batch.

It depends on the values only, not on how they are split into batches or laid out in memory (offsets, slices,
validity buffers): every leaf of every column (validity, list lengths, string lengths, string bytes, numbers)
streams into its own hash in row order, so the same rows read from JSONL, a DataFrame or the hub, in batches of
any size, give the same digest, and a file of any size is hashed in one streaming pass.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


class ContentHash:
    def __init__(self, names: list[str]):
        self.names = list(names)
        self._h: dict[str, Any] = {}
        self.rows = 0

    def _sink(self, path: str):
        h = self._h.get(path)
        if h is None:
            h = self._h[path] = hashlib.sha256()
        return h

    def update(self, table) -> None:
        for n in self.names:
            for chunk in table.column(n).chunks:
                _feed(self._sink, n, chunk)
        self.rows += table.num_rows

    def hexdigest(self, extra: dict[str, Any]) -> str:
        top = hashlib.sha256()
        top.update(json.dumps(extra, sort_keys=True, default=str).encode())
        top.update(json.dumps(self.names).encode() + b"\x00" + str(self.rows).encode())
        for path in sorted(self._h):
            top.update(path.encode() + b"\x00" + self._h[path].digest())
        return top.hexdigest()


def _feed(sink, path: str, arr) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if len(arr) == 0:
        return
    sink(path + "#valid").update(np.asarray(arr.is_valid(), dtype=np.uint8).tobytes())
    if pa.types.is_null(t):
        return
    if pa.types.is_dictionary(t):
        return _feed(sink, path, arr.dictionary_decode())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        b = arr.cast(pa.large_binary()) if not pa.types.is_large_binary(t) else arr
        if b.null_count:  # bytes under null slots are not content
            b = pc.fill_null(b, b"")
        sink(path + "#len").update(pc.binary_length(b).to_numpy(zero_copy_only=False).astype(np.int64).tobytes())
        off = np.frombuffer(b.buffers()[1], dtype=np.int64, count=b.offset + len(b) + 1)[b.offset:]
        data = b.buffers()[2]
        if data is not None and off[-1] > off[0]:
            sink(path + "#bytes").update(memoryview(data)[off[0]:off[-1]])
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        lens = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        sink(path + "#len").update(lens.tobytes())
        _feed(sink, path + "[]", pc.list_flatten(arr))
    elif pa.types.is_struct(t):
        for i, kid in enumerate(arr.flatten()):
            _feed(sink, f"{path}.{t.field(i).name}", kid)
    elif pa.types.is_boolean(t) or pa.types.is_integer(t):
        sink(path + "#int").update(pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False).tobytes())
    elif pa.types.is_floating(t) or pa.types.is_decimal(t):
        sink(path + "#float").update(pc.fill_null(arr.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False).tobytes())
    else:  # dates, times, maps, unions...: their text form
        try:
            _feed(sink, path + "#text", arr.cast(pa.string()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            for v in arr.to_pylist():
                sink(path + "#json").update(json.dumps(v, default=str).encode() + b"\n")
