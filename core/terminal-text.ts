// Terminal control sequences out of text that is kept or shown as plain text (build logs): colours, cursor moves,
// titles. The engine and the tools it runs colour their output for a terminal; a stored log is read by people in
// browsers and CLIs and by programs that search it, none of which want the escapes. Pure.

/** CSI (ESC [ … final), OSC (ESC ] … BEL or ESC \), and the two-byte escapes (ESC + one character). */
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]/g;
/** An escape cut off at the end of a chunk (the rest comes with the next one). */
const PARTIAL = /(?:\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?)?|\x9b[0-?]*[ -/]*)$/;

export const stripEscapes = (text: string) => text.replace(ESCAPES, '');

/** For text arriving in chunks: an escape split across two chunks is held back until it is whole, then dropped. */
export function escapeStripper() {
  let held = '';
  return {
    push(chunk: string): string {
      const text = held + chunk;
      const partial = PARTIAL.exec(text);
      held = partial ? partial[0] : '';
      return stripEscapes(partial ? text.slice(0, partial.index) : text);
    },
    /** What is left at the end (an escape that never finished is not text either). */
    end(): string {
      const rest = held.replace(/^[\x1b\x9b].*$/s, '');
      held = '';
      return rest;
    },
  };
}
