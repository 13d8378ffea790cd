/**
 * Control characters: the one owner of what counts as one, how input that holds one is refused,
 * how text is made safe for a terminal, and how a builder refuses one that validation missed.
 * A newline in a DNS name becomes a second command of an RFC 2136 update, in a map key a second
 * map entry, in main.cf a second setting; an escape sequence rewrites an operator's terminal.
 */

/** C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional overrides. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this module's purpose.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const CONTROL_ALL = new RegExp(CONTROL.source, "gu");
/** The same, less newline and tab: what a multi-line message may keep. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: as above.
const CONTROL_BUT_LAYOUT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

const escaped = (c: string) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`;

/** The first control character of `s` and where it is, or undefined. Pure. */
export function controlCharacter(s: string): { at: number; escaped: string } | undefined {
  const m = CONTROL.exec(s);
  return m ? { at: m.index, escaped: escaped(m[0]) } : undefined;
}

/** Longest piece of a value a message quotes: a 10 MB value is named, not repeated. */
const SHOWN_MAX = 80;

/**
 * A value as a message quotes it: in double quotes, control characters escaped, cut at 80
 * characters with its length said. Pure.
 */
export function shown(value: unknown): string {
  if (typeof value !== "string")
    return String(JSON.stringify(value) ?? value)
      .replace(CONTROL_ALL, escaped)
      .slice(0, SHOWN_MAX);
  const cut = value.length > SHOWN_MAX ? `${value.slice(0, SHOWN_MAX)}... (${value.length} characters)` : value;
  return JSON.stringify(cut).replace(CONTROL_ALL, escaped);
}

/** Text for a terminal: every control character but newline and tab written as \uXXXX. Pure. */
export const terminalSafe = (text: string) => text.replace(CONTROL_BUT_LAYOUT, escaped);

/**
 * Defence in depth for the builders of update texts, map lines and settings: a value that holds a
 * control character never becomes part of one, even if validation let it through.
 */
export function refuseControl(what: string, value: string): string {
  const c = controlCharacter(value);
  if (c) throw new Error(`refusing to write ${what} ${shown(value)}: it holds the control character ${c.escaped} at ${c.at}`);
  return value;
}
