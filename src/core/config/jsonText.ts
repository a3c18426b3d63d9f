// JSON parsing that reports where a file is broken without quoting it.
// V8's JSON.parse messages embed a snippet of the input ("Unexpected token 'x', "…" is not
// valid JSON"), which for a connection file may be part of the private key. So JSON.parse
// only decides (and builds the value); on failure jsonc-parser, the parser VS Code uses,
// finds the first error, and we word it with a line/column and no content.

// The ESM build on purpose: esbuild takes `main` for node, and jsonc-parser's `main` is a UMD
// build whose inner requires it cannot follow (microsoft/node-jsonc-parser#57).
import { printParseErrorCode, visit } from 'jsonc-parser/lib/esm/main.js';

export interface JsonSyntaxProblem {
  line: number; // 1-based
  column: number; // 1-based
  message: string;
}

export type JsonParseResult = { ok: true; value: unknown } | { ok: false; problem: JsonSyntaxProblem };

export function parseJsonText(text: string): JsonParseResult {
  // Files saved by Windows tools often start with a UTF-8 byte order mark.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return { ok: true, value: JSON.parse(body) as unknown };
  } catch {
    const problem = locateJsonError(body) ?? { line: 1, column: 1, message: 'not valid JSON' };
    return { ok: false, problem };
  }
}

const STRICT = { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false };
const SAFE_TO_SHOW = new Set(['{', '}', '[', ']', ',', ':', '"']);
const STRING_ERRORS = new Set(['UnexpectedEndOfString', 'InvalidCharacter', 'InvalidEscapeCharacter', 'InvalidUnicode']);

type Expected = 'value' | 'name' | 'colon' | 'more';

/** Finds the first syntax error of a JSON text; undefined when the text is valid. */
export function locateJsonError(text: string): JsonSyntaxProblem | undefined {
  // What the grammar expects next, followed through jsonc-parser's events up to its first error.
  const open: ('object' | 'array')[] = [];
  let expected: Expected = 'value';
  let afterComma = false;
  let first: { code: string; offset: number; expected: Expected; afterComma: boolean; inside?: 'object' | 'array' } | undefined;
  const step = (next: Expected, comma = false): void => {
    if (first) return;
    expected = next;
    afterComma = comma;
  };
  const begin = (kind: 'object' | 'array'): void => {
    if (first) return;
    open.push(kind);
    step(kind === 'object' ? 'name' : 'value');
  };
  const end = (offset: number, bracket: string): void => {
    // jsonc-parser also ends a container at the end of the file, just before the error.
    if (first || text[offset] !== bracket) return;
    open.pop();
    step('more');
  };
  try {
    visit(text, {
      onObjectBegin: () => begin('object'),
      onArrayBegin: () => begin('array'),
      onObjectProperty: () => step('colon'),
      onObjectEnd: (offset) => end(offset, '}'),
      onArrayEnd: (offset) => end(offset, ']'),
      onLiteralValue: () => step('more'),
      onSeparator: (ch) => (ch === ':' ? step('value') : step(open.at(-1) === 'object' ? 'name' : 'value', true)),
      onError: (error, offset) => {
        first ??= { code: printParseErrorCode(error), offset, expected, afterComma, inside: open.at(-1) };
      },
    }, STRICT);
  } catch (error) {
    // jsonc-parser recurses once per nesting level: a hostile file can exhaust the stack.
    if (!(error instanceof RangeError)) throw error;
    return { line: 1, column: 1, message: 'nested too deeply' };
  }
  if (!first) return undefined;

  const { code, offset, inside } = first;
  if (code === 'InvalidCommentToken') return at(text, offset, 'comments are not allowed in JSON');
  // A broken string or number where one may stand is described from inside; elsewhere it is
  // misplaced, and worded by position like the other codes (InvalidSymbol, CommaExpected, ...).
  if (STRING_ERRORS.has(code) && first.expected !== 'colon' && first.expected !== 'more') {
    return at(text, ...stringProblem(text, offset));
  }
  const badNumber = code === 'UnexpectedEndOfNumber' || code === 'InvalidNumberFormat' || (code === 'InvalidSymbol' && text[offset] === '-');
  if (badNumber && first.expected === 'value') return at(text, offset, 'invalid number');

  const ch = text[offset];
  const closer = inside === 'object' ? '}' : ']';
  if (first.afterComma && ch === closer) return at(text, offset, `trailing comma before '${closer}'`);
  if (first.expected === 'value' && ch === undefined) return at(text, offset, 'unexpected end of file: a value is missing');
  const found = ch === undefined ? 'unexpected end of file' : SAFE_TO_SHOW.has(ch) ? `unexpected '${ch}'` : 'unexpected character';
  const wanted = {
    value: 'expected a value',
    name: 'expected a property name in double quotes',
    colon: "expected ':' after a property name",
    more: inside ? `expected ',' or '${closer}'` : 'extra content after the end of the JSON value',
  }[first.expected];
  return at(text, offset, `${found}: ${wanted}`);
}

/** The first fault of the string that starts at `start`: a raw control character, a bad escape, or no end. */
function stringProblem(text: string, start: number): [number, string] {
  for (let pos = start + 1; pos < text.length; pos++) {
    const code = text.charCodeAt(pos);
    if (code === 0x22) return [start, 'invalid string'];
    if (code < 0x20) return [pos, 'line break or control character inside a string'];
    if (code === 0x5c) {
      const escape = /^(["\\/bfnrt]|u[0-9a-fA-F]{4})/.exec(text.slice(pos + 1, pos + 6));
      if (!escape) return [pos, 'invalid escape sequence in a string'];
      pos += escape[0].length;
    }
  }
  return [start, 'string is not closed'];
}

function at(text: string, offset: number, message: string): JsonSyntaxProblem {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1, message };
}
