/**
 * Text a remote server wrote (an OAuth error and its description, a program's
 * last line of output) quoted inside our own messages. Control characters
 * (line breaks included), DEL, C1 controls, Unicode line and paragraph
 * separators and bidirectional overrides become a space: quoted text cannot
 * start a line of its own (a forged "Next step:"), move a terminal's cursor,
 * clear its screen, hide a link behind other words, or reverse what follows.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g;

/** `text` on one line of printable characters, cut to `max` characters (with … when cut). */
export function remoteText(text: string, max: number): string {
  const line = text.replace(UNSAFE, ' ').replace(/ {2,}/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
