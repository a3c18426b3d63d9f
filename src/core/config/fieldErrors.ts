// Validation results shared by the connection-file import and the role properties.

/** One problem with one field; `field` is a path like `ServicePrincipalKey.d` or `proxy.port`. */
export interface FieldIssue {
  field: string;
  message: string;
}

export function formatIssues(issues: readonly FieldIssue[]): string {
  return issues.map((issue) => `${issue.field}: ${issue.message}`).join('\n');
}

/** Thrown when a caller asks for a value that did not validate; carries every issue. */
export class ValidationError extends Error {
  constructor(
    what: string,
    readonly errors: readonly FieldIssue[],
  ) {
    super(`${what} is not valid:\n${formatIssues(errors)}`);
    this.name = 'ValidationError';
  }
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
