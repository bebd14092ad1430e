/**
 * The `KEY=value` lines of `.dev.vars.example` whose key `.dev.vars` lacks: a checkout that made
 * its `.dev.vars` before a variable was added gets it on the next `npm start` (a key already there
 * keeps its value). Apart from dev-vars.mjs, which reads files, so the tests run it in workerd.
 */
export function missingDevVars(current, example) {
  const keys = new Set(current.split("\n").map(keyOf).filter(Boolean));
  return example.split("\n").filter((line) => {
    const key = keyOf(line);
    return key !== null && !keys.has(key);
  });
}

function keyOf(line) {
  return line.match(/^\s*([A-Z0-9_]+)\s*=/)?.[1] ?? null;
}
