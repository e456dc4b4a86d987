/**
 * What a statement's span says of it, read from its text alone (never its
 * parameters): the operation (SELECT, INSERT, BEGIN…), the table when it
 * names one only, and the text itself, capped.
 */
export interface StatementText {
  /** The first keyword, upper case; after a WITH, the statement the CTEs feed. Empty for an empty text. */
  operation: string;
  /** The one table the statement names (unquoted); undefined when it names none or several. */
  collection: string | undefined;
  /** The text, at most MAX_QUERY_TEXT characters (a multi-row insert of a group commit runs to many kilobytes of placeholders). */
  text: string;
}

export const MAX_QUERY_TEXT = 2048;

const MAIN_AFTER_WITH = new Set(["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "VALUES", "TABLE"]);

interface Token {
  /** A word or identifier (quotes removed, dotted parts joined), or one punctuation character. */
  value: string;
  /** True for a word or identifier. */
  name: boolean;
  /** Parenthesis depth it stands at. */
  depth: number;
}

/** The words, identifiers and punctuation of a statement; literals, comments and placeholders are skipped. */
function tokens(text: string): Token[] {
  const out: Token[] = [];
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === "-" && text[i + 1] === "-") {
      const end = text.indexOf("\n", i);
      i = end < 0 ? n : end + 1;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === "'") {
      // A literal ('' inside is an escaped quote): skipped, whatever it holds.
      i++;
      while (i < n && !(text[i] === "'" && text[i + 1] !== "'")) i += text[i] === "'" ? 2 : 1;
      i++;
    } else if (c === '"' || /[A-Za-z_]/.test(c)) {
      let name = "";
      for (;;) {
        if (text[i] === '"') {
          const end = text.indexOf('"', i + 1);
          name += text.slice(i + 1, end < 0 ? n : end);
          i = end < 0 ? n : end + 1;
        } else {
          const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(text.slice(i, i + 128))![0];
          name += word;
          i += word.length;
        }
        if (text[i] !== "." || !/["A-Za-z_]/.test(text[i + 1] ?? "")) break;
        name += ".";
        i++;
      }
      out.push({ value: name, name: true, depth });
    } else if (c === "(") {
      out.push({ value: c, name: false, depth: depth++ });
      i++;
    } else if (c === ")") {
      depth = Math.max(0, depth - 1);
      out.push({ value: c, name: false, depth });
      i++;
    } else if (c === "$" || /[0-9]/.test(c)) {
      i++;
      while (i < n && /[0-9]/.test(text[i]!)) i++;
    } else {
      if (!/\s/.test(c)) out.push({ value: c, name: false, depth });
      i++;
    }
  }
  return out;
}

const upper = (t: Token | undefined) => (t?.name ? t.value.toUpperCase() : "");

/** Opens a nested query, not an argument or column list: FROM and JOIN inside name tables. */
const QUERY_START = new Set(["SELECT", "WITH", "VALUES", "TABLE"]);
const TABLE_BEFORE = new Set(["FROM", "JOIN", "INTO", "UPDATE"]);
/** Words before UPDATE when it is a lock or a conflict action (FOR UPDATE, FOR NO KEY UPDATE, DO UPDATE), not a statement. */
const NOT_UPDATE_STATEMENT = new Set(["FOR", "KEY", "DO"]);

/**
 * The tables a statement names after FROM, JOIN, INTO and UPDATE, in query
 * context only (a FROM inside a function call, `substring(x FROM 1)`, names
 * none), set-returning functions (`FROM jsonb_to_recordset(…)`) left out.
 */
function tables(list: Token[]): Set<string> {
  const found = new Set<string>();
  const inQuery: boolean[] = [true];
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    if (t.value === "(" && !t.name) inQuery.push(QUERY_START.has(upper(list[i + 1])));
    else if (t.value === ")" && !t.name) {
      if (inQuery.length > 1) inQuery.pop();
    } else if (inQuery.at(-1) && TABLE_BEFORE.has(upper(t)) && !(upper(t) === "UPDATE" && NOT_UPDATE_STATEMENT.has(upper(list[i - 1])))) {
      let at = i + 1;
      if (upper(list[at]) === "ONLY") at++;
      const name = list[at];
      // After FROM or JOIN, a name with arguments is a function; after INTO, its list is the columns.
      const call = list[at + 1]?.value === "(" && (upper(t) === "FROM" || upper(t) === "JOIN");
      if (name?.name && !QUERY_START.has(upper(name)) && !call) found.add(name.value);
    }
  }
  return found;
}

export function describeStatement(text: string): StatementText {
  const list = tokens(text);
  const first = list.find((t) => t.name);
  let operation = upper(first);
  /** Names the WITH clause gives its CTEs (`picked AS (…)`): not tables. */
  const ctes = new Set<string>();
  if (operation === "WITH") {
    const main = list.findIndex((t) => t.depth === 0 && MAIN_AFTER_WITH.has(upper(t)));
    for (let i = 1; i < (main < 0 ? list.length : main); i++) {
      if (list[i]!.depth === 0 && list[i]!.name && upper(list[i + 1]) === "AS") ctes.add(list[i]!.value);
    }
    if (main >= 0) operation = upper(list[main]);
  }
  // One table or none: the conventions name a collection only for statements on a single one.
  const named = [...tables(list)].filter((name) => !ctes.has(name));
  const collection = named.length === 1 ? named[0] : undefined;
  return { operation, collection, text: text.length > MAX_QUERY_TEXT ? `${text.slice(0, MAX_QUERY_TEXT - 1)}…` : text };
}

/**
 * The error type a failed statement's span records: the SQLSTATE of a
 * PostgreSQL error (23505), else the driver's code (CONNECTION_CLOSED,
 * ECONNREFUSED), else the error's class name. Never its message, which may
 * quote a value ("invalid input syntax for type uuid: …").
 */
export function statementErrorType(err: unknown): { type: string; sqlstate: string | undefined } {
  const code = (err as { code?: unknown } | null)?.code;
  const name = err instanceof Error ? err.name : "Error";
  if (name === "PostgresError" && typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return { type: code, sqlstate: code };
  if (typeof code === "string" && /^[A-Z][A-Z0-9_]{0,63}$/.test(code)) return { type: code, sqlstate: undefined };
  return { type: name, sqlstate: undefined };
}
