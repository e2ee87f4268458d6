/** The human units the Studio's lists show (pure, tested by jest). */

/** 1234567 -> "1.23M" (parameters). */
export function humanCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '–';
  }
  for (const [unit, size] of [
    ['T', 1e12],
    ['B', 1e9],
    ['M', 1e6],
    ['k', 1e3]
  ] as [string, number][]) {
    if (Math.abs(n) >= size) {
      return `${Number((n / size).toPrecision(3))}${unit}`;
    }
  }
  return String(n);
}

/** 1536 -> "1.5 KiB". */
export function humanBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '–';
  }
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} bytes` : `${Number(v.toPrecision(3))} ${units[i]}`;
}

export function when(ts: number | string | null | undefined): string {
  if (ts === null || ts === undefined) {
    return '';
  }
  const d = typeof ts === 'number' ? new Date(ts * 1000) : new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleString();
}

/** A local folder's id is its absolute path: show its last part (the full path is the tooltip). */
export function shortId(id: string): string {
  return id.startsWith('/') || /^[A-Za-z]:[\\/]/.test(id) ? id.split(/[\\/]/).filter(Boolean).pop() ?? id : id;
}
