/**
 * `ARTIFACT_KEEPER_TRACE=1`: the command's phases and counters on stderr when the process exits, one
 * line each (`artifact-keeper trace: 12.3 ms     snapshot before the update`, indented by nesting), for
 * the bench's phase breakdown and for anyone asking where the time goes. Off, it costs nothing.
 */
import { startTrace, tracePhase, traceReport } from '../core/index.js';

export const TRACE_PREFIX = 'artifact-keeper trace:';

/** Starts tracing when ARTIFACT_KEEPER_TRACE=1, with Node's own start-up and the bundle's load as the first phases. */
export function startCliTrace(): void {
  if (process.env.ARTIFACT_KEEPER_TRACE !== '1' || traceReport()) return;
  startTrace();
  const mainStarted = performance.now();
  // performance.now() counts from the process's start; Node's bootstrap ends before our bundle is read.
  const bootstrap = performance.nodeTiming.bootstrapComplete;
  tracePhase('node start-up', 0, bootstrap);
  tracePhase('bundle load', bootstrap, mainStarted - bootstrap);
  process.once('exit', () => {
    const exitMs = performance.now();
    const ran = traceReport()?.phases.filter((p) => p.depth === 0) ?? [];
    const commandEnd = Math.max(mainStarted, ...ran.map((p) => p.startMs + p.ms));
    tracePhase('after the command, until exit', commandEnd, exitMs - commandEnd);
    const report = traceReport();
    if (!report) return;
    const lines = report.phases.map(
      (p) => `${TRACE_PREFIX} ${p.ms.toFixed(1)} ms ${'  '.repeat(p.depth)} ${p.name}`,
    );
    lines.push(`${TRACE_PREFIX} ${exitMs.toFixed(1)} ms  total in process`);
    for (const [name, n] of Object.entries(report.counts).sort())
      lines.push(`${TRACE_PREFIX} count ${name} ${n}`);
    // Synchronous on pipes and files at exit.
    process.stderr.write(`${lines.join('\n')}\n`);
  });
}
