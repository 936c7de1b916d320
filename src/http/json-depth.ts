const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = [0x5b, 0x7b]; // [ {
const CLOSE = [0x5d, 0x7d]; // ] }

/**
 * Whether JSON text nests arrays and objects deeper than `max`, from the raw bytes: one pass,
 * no allocation, brackets inside strings skipped. It runs before JSON.parse, whose time grows
 * with the nesting (3.8 MB of brackets held the event loop for 0.7 s). Malformed text is left
 * for the parser to refuse.
 */
export function nestsDeeperThan(json: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const b = json[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN[0] || b === OPEN[1]) {
      if (++depth > max) return true;
    } else if (b === CLOSE[0] || b === CLOSE[1]) depth--;
  }
  return false;
}
