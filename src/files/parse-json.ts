// JSON.parse for files the manager keeps (state file, keystore record), whose
// shape is known to be shallow: a deeply nested document is refused with a
// reason before it is parsed, as a document of the wrong shape would be after.

/** Throws (SyntaxError-like message) on invalid JSON or nesting beyond maxDepth. */
export function parseShallowJson(text: string, maxDepth: number): unknown {
  const depth = nestingDepth(text);
  if (depth > maxDepth) throw new Error(`JSON nested ${depth} levels deep (at most ${maxDepth} expected)`);
  return JSON.parse(text);
}

/** Deepest [ or { nesting, brackets inside strings not counted; linear, no recursion. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let isInString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isInString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) isInString = false;
    } else if (c === 0x22) isInString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}
