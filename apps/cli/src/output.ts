// stdout carries results only: each command's last stdout line is one JSON object.
// Logs, warnings and progress go to stderr so `splitlora … | tail -n1 | jq` always works.

export function printResult(result: object): void {
  process.stdout.write(JSON.stringify(result) + '\n');
}

export function log(message: string): void {
  process.stderr.write(message + '\n');
}

/** An error whose message is complete for the user: main prints it without a stack trace. */
export class CliError extends Error {
  override name = 'CliError';
}
