// A vitest reporter that ends the run with one line: how many tests skipped for want of the E2E
// NLG data (their titles carry E2E_SKIP_NOTE, see e2eTitle) and how to get it. Silent when none did.
// With SPLITLORA_SKIPPED_FILES=path it also writes the test files that skipped any test, one per
// line, relative to the root: .ci/run reruns those where ../shared is present, with
// SPLITLORA_REQUIRE_E2E=1, which fails the run when any test still skips for want of the data.
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';
import { E2E_SKIP_NOTE, e2eMissingHelp } from '../../packages/data/src/e2e-location';

export default class E2ESkipReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let e2eSkips = 0;
    const filesWithSkips = new Set<string>();
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        if (t.result().state !== 'skipped') continue;
        filesWithSkips.add(relative(m.project.config.root, m.moduleId));
        if (t.fullName.includes(E2E_SKIP_NOTE)) e2eSkips++;
      }
    }
    const out = process.env.SPLITLORA_SKIPPED_FILES;
    if (out) writeFileSync(out, [...filesWithSkips].sort().map((f) => `${f}\n`).join(''));
    if (e2eSkips === 0) return;
    const required = process.env.SPLITLORA_REQUIRE_E2E === '1';
    process.stdout.write(`\nE2E data: ${e2eSkips} test${e2eSkips === 1 ? '' : 's'} skipped${required ? ' (SPLITLORA_REQUIRE_E2E=1: the run fails)' : ''}: ${e2eMissingHelp()}\n`);
    if (required) process.exitCode = 1;
  }
}
