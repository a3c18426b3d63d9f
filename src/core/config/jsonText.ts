// JSON parsing that reports where a file is broken without quoting it.
// V8's JSON.parse messages embed a snippet of the input ("Unexpected token 'x', "…" is not
// valid JSON"), which for a connection file may be part of the private key; so on failure
// we locate the error ourselves and build a message with a line/column and no content.

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

const SAFE_TO_SHOW = new Set(['{', '}', '[', ']', ',', ':', '"']);

/** Finds the first syntax error of a JSON text; undefined when the text is valid. */
export function locateJsonError(text: string): JsonSyntaxProblem | undefined {
  let pos = 0;

  class Stop extends Error {
    constructor(
      readonly at: number,
      readonly reason: string,
    ) {
      super(reason);
    }
  }
  const fail = (at: number, reason: string): never => {
    throw new Stop(at, reason);
  };
  const describeAt = (at: number): string => {
    if (at >= text.length) return 'unexpected end of file';
    const ch = text[at] ?? '';
    return SAFE_TO_SHOW.has(ch) ? `unexpected '${ch}'` : 'unexpected character';
  };
  const skipWs = (): void => {
    while (pos < text.length && ' \t\n\r'.includes(text[pos] ?? '')) pos++;
  };
  const expectLiteral = (word: string): void => {
    if (text.startsWith(word, pos)) pos += word.length;
    else fail(pos, describeAt(pos));
  };
  const parseString = (): void => {
    const start = pos;
    pos++; // opening quote
    for (;;) {
      if (pos >= text.length) fail(start, 'string is not closed');
      const code = text.charCodeAt(pos);
      if (code === 0x22) {
        pos++;
        return;
      }
      if (code < 0x20) fail(pos, 'line break or control character inside a string');
      if (code === 0x5c) {
        const next = text[pos + 1] ?? '';
        if ('"\\/bfnrt'.includes(next) && next !== '') pos += 2;
        else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) pos += 6;
        else fail(pos, 'invalid escape sequence in a string');
      } else {
        pos++;
      }
    }
  };
  const parseNumber = (): void => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(pos, pos + 400));
    if (!match || match[0] === '' || match[0] === '-') fail(pos, 'invalid number');
    pos += match ? match[0].length : 0;
  };
  const parseValue = (): void => {
    skipWs();
    const ch = text[pos];
    if (ch === '{') return parseObject();
    if (ch === '[') return parseArray();
    if (ch === '"') return parseString();
    if (ch === 't') return expectLiteral('true');
    if (ch === 'f') return expectLiteral('false');
    if (ch === 'n') return expectLiteral('null');
    if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) return parseNumber();
    fail(pos, pos >= text.length ? 'unexpected end of file: a value is missing' : `${describeAt(pos)}: expected a value`);
  };
  const parseObject = (): void => {
    pos++;
    skipWs();
    if (text[pos] === '}') {
      pos++;
      return;
    }
    for (;;) {
      skipWs();
      if (text[pos] !== '"') {
        fail(pos, text[pos] === '}' ? "trailing comma before '}'" : `${describeAt(pos)}: expected a property name in double quotes`);
      }
      parseString();
      skipWs();
      if (text[pos] !== ':') fail(pos, `${describeAt(pos)}: expected ':' after a property name`);
      pos++;
      parseValue();
      skipWs();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === '}') {
        pos++;
        return;
      }
      fail(pos, `${describeAt(pos)}: expected ',' or '}'`);
    }
  };
  const parseArray = (): void => {
    pos++;
    skipWs();
    if (text[pos] === ']') {
      pos++;
      return;
    }
    for (;;) {
      skipWs();
      if (text[pos] === ']') fail(pos, "trailing comma before ']'");
      parseValue();
      skipWs();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === ']') {
        pos++;
        return;
      }
      fail(pos, `${describeAt(pos)}: expected ',' or ']'`);
    }
  };

  try {
    parseValue();
    skipWs();
    if (pos < text.length) fail(pos, `${describeAt(pos)}: extra content after the end of the JSON value`);
    return undefined;
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
    return { ...lineColumn(text, error.at), message: error.reason };
  }
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
