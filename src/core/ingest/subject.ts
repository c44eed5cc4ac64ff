/**
 * NATS subject syntax and wildcard matching: `*` matches one token, `>` the rest (one or more).
 * Used to validate plugin subjects, to detect two plugins listening on overlapping subjects, and
 * by the embedded broker to route.
 */

const TOKEN = /^[^\s.*>]+$/;

/** A subscription subject: dot-separated tokens, `*` anywhere, `>` only last. */
export function isValidSubject(subject: string): boolean {
  if (subject.length === 0 || subject.length > 256) return false;
  const tokens = subject.split(".");
  return tokens.every((token, index) => {
    if (token === "*") return true;
    if (token === ">") return index === tokens.length - 1;
    return TOKEN.test(token);
  });
}

/** Does a concrete subject match a (possibly wildcard) pattern? */
export function subjectMatches(pattern: string, subject: string): boolean {
  const want = pattern.split(".");
  const have = subject.split(".");
  for (let i = 0; i < want.length; i++) {
    const token = want[i];
    if (token === ">") return have.length > i;
    if (i >= have.length) return false;
    if (token !== "*" && token !== have[i]) return false;
  }
  return want.length === have.length;
}

/** Could one published subject be delivered to both patterns? */
export function subjectsOverlap(a: string, b: string): boolean {
  const left = a.split(".");
  const right = b.split(".");
  for (let i = 0; ; i++) {
    const l = left[i];
    const r = right[i];
    if (l === ">" || r === ">") return l !== undefined && r !== undefined;
    if (l === undefined || r === undefined) return l === r;
    if (l !== "*" && r !== "*" && l !== r) return false;
  }
}
