/**
 * Git's conflict markers in a text file (a `collection.toml` or `collection.lock` after a git merge of
 * two branches): where the first one is, and the two sides the file would be with every conflict taken
 * from one side (`<<<<<<< ours` … `||||||| base` … `=======` … `>>>>>>> theirs`, diff3 style or not).
 */
const START = /^<{7}(?: |$)/;
const BASE = /^\|{7}(?: |$)/;
const SPLIT = /^={7}$/;
const END = /^>{7}(?: |$)/;

/** The 1-based line of the first conflict marker, or undefined when there is none. */
export function firstMarkerLine(text: string): number | undefined {
  const lines = text.split('\n');
  const at = lines.findIndex((line) => {
    const l = line.replace(/\r$/, '');
    return START.test(l) || END.test(l);
  });
  return at >= 0 ? at + 1 : undefined;
}

/** Both sides of a file with conflict markers; undefined when its markers do not pair up. */
export function splitSides(text: string): { ours: string; theirs: string } | undefined {
  const ours: string[] = [];
  const theirs: string[] = [];
  let state: 'both' | 'ours' | 'base' | 'theirs' = 'both';
  for (const line of text.split('\n')) {
    const l = line.replace(/\r$/, '');
    if (START.test(l)) {
      if (state !== 'both') return undefined;
      state = 'ours';
    } else if (BASE.test(l) && state === 'ours') state = 'base';
    else if (SPLIT.test(l) && (state === 'ours' || state === 'base')) state = 'theirs';
    else if (END.test(l)) {
      if (state !== 'theirs') return undefined;
      state = 'both';
    } else if (state === 'both') {
      ours.push(line);
      theirs.push(line);
    } else if (state === 'ours') ours.push(line);
    else if (state === 'theirs') theirs.push(line);
  }
  if (state !== 'both') return undefined;
  return { ours: ours.join('\n'), theirs: theirs.join('\n') };
}
