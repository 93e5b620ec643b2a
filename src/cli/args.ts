/**
 * A small, strict argument parser: `--flag`, `--key value`, `--key=value`, `-m TEXT`, positionals.
 * Unknown flags are usage errors (exit 64), never silently ignored.
 */

export interface FlagSpec {
  /** Takes a value (`--strategy merge`) or is a boolean switch. */
  value: boolean;
  short?: string;
  repeatable?: boolean;
}

export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | boolean | string[]>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: readonly string[], specs: Record<string, FlagSpec>): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | boolean | string[]>();
  const byShort = new Map(
    Object.entries(specs).flatMap(([name, s]) => (s.short ? [[s.short, name] as const] : [])),
  );
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else if (arg.startsWith('-') && arg.length > 1) {
      name = byShort.get(arg.slice(1));
      if (!name) throw new UsageError(`unknown option ${arg}`);
    } else {
      positionals.push(arg);
      continue;
    }
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown option --${name}`);
    let value: string | boolean = true;
    if (spec.value) {
      value = inline ?? (argv[++i] as string);
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
    } else if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
    if (spec.repeatable) {
      const list = (flags.get(name) as string[] | undefined) ?? [];
      list.push(String(value));
      flags.set(name, list);
    } else flags.set(name, value);
  }
  return { positionals, flags };
}
