/**
 * JMESPath queries (@jmespath-community/jmespath) for `wgmesh mesh query`,
 * with errors a user can act on. The library reports a syntax error without
 * saying where it is; we locate it from the outside, using only the library's
 * own lexer and parser on prefixes of the expression:
 * - a lexer error (unknown character, unterminated string or literal) starts
 *   where the longest prefix that still tokenizes ends;
 * - a parser error is at the first token whose prefix fails for a reason other
 *   than ending too early (those errors name the EOF token); when every prefix
 *   only ends too early, the expression is incomplete and the position is its end.
 */
import {compile, search, tokenize, type JSONValue} from '@jmespath-community/jmespath';
import {InvalidInputError} from '@wgmesh/core/client';

/** Longest expression accepted: locating an error costs one parse per token. */
export const MAX_EXPRESSION_LENGTH = 4096;

/** A JSON document, as JMESPath sees it. */
export type JsonValue = JSONValue;

/** Where a syntax error is (0-based offset into the expression) and what the library said. */
export interface SyntaxErrorLocation {
  offset: number;
  reason: string;
}

function failure(action: () => unknown): Error | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** The library's message without its generic prefix. */
function reasonOf(error: Error): string {
  return error.message.replace(/^(Syntax error|syntax):\s*/i, '');
}

/** Locate the syntax error of `expression`, or undefined when it compiles. */
export function locateSyntaxError(expression: string): SyntaxErrorLocation | undefined {
  const compileError = failure(() => compile(expression));
  if (compileError === undefined) return undefined;
  const reason = reasonOf(compileError);
  const lexError = failure(() => tokenize(expression));
  if (lexError !== undefined) {
    for (let end = expression.length - 1; end >= 0; end--) {
      if (failure(() => tokenize(expression.slice(0, end))) === undefined) return {offset: end, reason};
    }
    return {offset: 0, reason};
  }
  const tokens = tokenize(expression);
  for (const [index, token] of tokens.entries()) {
    const end = tokens[index + 1]?.start ?? expression.length;
    const prefixError = failure(() => compile(expression.slice(0, end)));
    if (prefixError !== undefined && !/\bEOF\b/.test(prefixError.message)) return {offset: token.start, reason: reasonOf(prefixError)};
  }
  return {offset: expression.length, reason: 'unexpected end of expression'};
}

/** One line describing a syntax error: 1-based column, the text there, the reason. */
function describeSyntaxError(expression: string, location: SyntaxErrorLocation): string {
  const near = expression.slice(location.offset, location.offset + 12);
  const where = location.offset >= expression.length ? 'at the end' : `near ${JSON.stringify(near)}`;
  return `syntax error in the query at column ${location.offset + 1} (${where}): ${location.reason}`;
}

/** Column of the first call of function `name` in `expression`, if its token can be found. */
function functionColumn(expression: string, name: string): number | undefined {
  const tokens = tokenize(expression);
  const index = tokens.findIndex((token, i) => token.type === 'UnquotedIdentifier' && token.value === name && tokens[i + 1]?.type === 'Lparen');
  return index < 0 ? undefined : tokens[index]!.start + 1;
}

/**
 * Check that `expression` is a JMESPath expression wgmesh accepts (not empty,
 * not too long, no syntax error), before any document is fetched.
 * @throws InvalidInputError, one line; a syntax error names its column
 */
export function checkQuery(expression: string): void {
  if (expression.length > MAX_EXPRESSION_LENGTH) throw new InvalidInputError(`the query is ${expression.length} characters long; at most ${MAX_EXPRESSION_LENGTH} are accepted`);
  if (expression.trim() === '') throw new InvalidInputError('the query is empty: give a JMESPath expression, for example "nodes[].address"');
  const location = locateSyntaxError(expression);
  if (location !== undefined) throw new InvalidInputError(describeSyntaxError(expression, location));
}

/**
 * Evaluate `expression` over `document`.
 * @throws InvalidInputError, one line: a syntax error with its column (see
 *   {@link checkQuery}), or an evaluation error (unknown function with its
 *   column, wrong argument type)
 */
export function evaluateQuery(document: JsonValue, expression: string): JsonValue {
  checkQuery(expression);
  try {
    return search(document, expression);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const unknown = /^Unknown function: ([A-Za-z_][A-Za-z0-9_]*)\(\)/.exec(message);
    if (unknown) {
      const column = functionColumn(expression, unknown[1]!);
      throw new InvalidInputError(`unknown function ${unknown[1]}() in the query${column === undefined ? '' : ` at column ${column}`}`);
    }
    throw new InvalidInputError(`the query failed: ${message.split('\n')[0]}`);
  }
}

/** The human form of a query result: a string as is, anything else as indented JSON. */
export function formatQueryResult(result: JsonValue): string {
  return typeof result === 'string' ? result : JSON.stringify(result, null, 2);
}
