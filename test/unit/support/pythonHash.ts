/** SkillMeat's content hash (format doc §2.1) as Python computes it: the reference our hash must equal. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** SkillMeat's own algorithm, run by Python itself, over a file or a folder. */
export function pythonHash(target: string): string {
  const script = `
import hashlib, sys
from pathlib import Path
p = Path(sys.argv[1])
h = hashlib.sha256()
if p.is_file():
    h.update(p.read_bytes())
else:
    for f in sorted(p.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(p)).encode("utf-8"))
            h.update(f.read_bytes())
print(h.hexdigest())
`;
  const result = spawnSync('python3', ['-c', script, target], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}
