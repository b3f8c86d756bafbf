/** How `migrate new` names a migration, in every layout: its words, and its number. */

/** The description's words, lower-case, joined by `separator` ("Add vendors table!" -> add-vendors-table). */
export function descriptionWords(description: string, separator: '-' | '_'): string {
  return description
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, separator)
    .replace(new RegExp(`^\\${separator}+|\\${separator}+$`, 'g'), '');
}

/**
 * The number after the folder's newest (`numbers` in the folder's order), padded like it, or to
 * `emptyWidth` in an empty folder; a UTC timestamp when the folder numbers by timestamps (12 digits
 * or more), one past the newest when the clock has not passed it.
 */
export function nextNumber(numbers: readonly (string | undefined)[], now: Date, emptyWidth: number): string {
  const last = numbers.filter((number): number is string => number !== undefined).at(-1);
  if (last && last.length >= 12) {
    const stamp = timestamp(now);
    return stamp > last ? stamp : String(BigInt(last) + 1n);
  }
  return String(BigInt(last ?? '0') + 1n).padStart(last?.length ?? emptyWidth, '0');
}

/** A UTC timestamp as migration tools write it: 20261125120000. */
export function timestamp(now: Date): string {
  return now.toISOString().replace(/\D/g, '').slice(0, 14);
}
