// Every run setting the server accepts (apps/server/src/settings.ts, RunSettingsSchema), with
// its default, bounds and a one-line explanation. settings-fields.test.ts checks these defaults
// against the server's own, so the form cannot drift from the schema unnoticed.

export type FieldKind = 'int' | 'number' | 'text' | 'select' | 'bool' | 'targets';

export interface SettingField {
  /** Path in the settings JSON; "lora.r" is settings.lora.r. */
  key: string;
  label: string;
  kind: FieldKind;
  default: number | string | boolean | string[] | undefined;
  min?: number;
  max?: number;
  /** A value must be strictly inside `min` / `max`, not equal to them. */
  exclusiveMin?: boolean;
  exclusiveMax?: boolean;
  options?: readonly string[];
  hint?: string;
}

export const LORA_TARGETS = ['c_attn', 'q', 'k', 'v', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;

export interface FieldGroup {
  title: string;
  fields: SettingField[];
}

export const SETTING_GROUPS: FieldGroup[] = [
  {
    title: 'Run',
    fields: [
      { key: 'name', label: 'Name', kind: 'text', default: 'run' },
      { key: 'seed', label: 'Seed', kind: 'int', default: 0, hint: 'LoRA init, dropout and data order' },
    ],
  },
  {
    title: 'Split and LoRA',
    fields: [
      { key: 'cut', label: 'Cut layer', kind: 'int', default: 0, min: 0, hint: '0 = a quarter of the blocks on the volunteer' },
      { key: 'lora.r', label: 'LoRA rank r', kind: 'int', default: 4, min: 1, max: 256 },
      { key: 'lora.alpha', label: 'LoRA alpha', kind: 'number', default: 32, min: 0, exclusiveMin: true, hint: 'scaling is alpha / r' },
      { key: 'lora.dropout', label: 'LoRA dropout', kind: 'number', default: 0.1, min: 0, max: 1, exclusiveMax: true },
      { key: 'lora.targets', label: 'LoRA targets', kind: 'targets', default: ['q', 'v'], options: LORA_TARGETS },
    ],
  },
  {
    title: 'Optimisation',
    fields: [
      { key: 'clientLr', label: 'Volunteer learning rate', kind: 'number', default: 2e-4, min: 0, exclusiveMin: true },
      { key: 'serverLr', label: 'Server learning rate', kind: 'number', default: 2e-4, min: 0, exclusiveMin: true },
      { key: 'serverSchedule', label: 'Server schedule', kind: 'select', default: 'linear', options: ['linear', 'constant'], hint: 'linear: warm-up, then decay to 0' },
      { key: 'serverWarmup', label: 'Server warm-up steps', kind: 'int', default: 500, min: 0 },
      { key: 'labelSmoothing', label: 'Label smoothing', kind: 'number', default: 0.1, min: 0, max: 1 },
    ],
  },
  {
    title: 'Steps and rounds',
    fields: [
      { key: 'batch', label: 'Batch size', kind: 'int', default: 8, min: 1, max: 512 },
      { key: 'seqLen', label: 'Sequence length', kind: 'int', default: 128, min: 2, max: 8192 },
      { key: 'interval', label: 'Aggregation interval', kind: 'int', default: 10, min: 1, hint: 'local steps per volunteer between aggregations' },
      { key: 'rounds', label: 'Rounds', kind: 'int', default: 10, min: 1, hint: 'the run finishes after the last aggregation' },
    ],
  },
  {
    title: 'Federation and transport',
    fields: [
      { key: 'minClients', label: 'Minimum volunteers', kind: 'int', default: 1, min: 1, max: 10_000, hint: 'training starts once this many have joined' },
      { key: 'stepDeadlineMs', label: 'Step deadline (ms)', kind: 'int', default: 60_000, min: 100, hint: 'a slower volunteer is left out of the round' },
      { key: 'wire', label: 'Wire format', kind: 'select', default: 'f16', options: ['f32', 'f16', 'int8'], hint: 'activations and gradients' },
      { key: 'batching', label: 'Merge concurrent volunteers into one server step', kind: 'bool', default: true },
      { key: 'labels', label: 'Loss computed by', kind: 'select', default: 'server', options: ['server', 'client'], hint: 'client: the U-shaped split; target ids, mask and loss stay in the page (two round trips per step)' },
      { key: 'aggregation', label: 'Aggregation', kind: 'select', default: 'fedavg', options: ['fedavg', 'trimmed-mean', 'median'], hint: 'fedavg trusts every volunteer; the others resist a few liars' },
      { key: 'serverReplicas', label: 'Server model on a cluster', kind: 'select', default: 'averaged', options: ['averaged', 'single'], hint: 'serve --redis only. averaged: a replica per node, averaged each round (SplitFed V1, scales); single: one node owns it, the others forward (SplitLoRA-exact, one node\'s compute)' },
      { key: 'trim', label: 'Trimmed share', kind: 'number', default: 0.2, min: 0, max: 0.5, exclusiveMax: true, hint: 'trimmed-mean: dropped at each end, per coordinate' },
    ],
  },
  {
    title: 'Privacy defences (optional)',
    fields: [
      { key: 'actClip', label: 'Clip activation rows to norm', kind: 'number', default: undefined, min: 0, exclusiveMin: true, hint: 'each volunteer clips every uploaded row to this L2 norm; empty for none' },
      { key: 'actNoise', label: 'Activation noise σ', kind: 'number', default: undefined, min: 0, hint: 'Gaussian noise on every uploaded value, after the clip; see "Privacy, measured" for what it costs' },
    ],
  },
  {
    title: 'Evaluation',
    fields: [{ key: 'evalData', label: 'Held-out data file', kind: 'text', default: undefined, hint: 'a path on the server; empty for none' }],
  },
];

export const SETTING_FIELDS: SettingField[] = SETTING_GROUPS.flatMap((g) => g.fields);

/** The defaults as one nested settings object (what an untouched form submits). */
export function defaultSettings(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of SETTING_FIELDS) if (f.default !== undefined) setPath(out, f.key, structuredClone(f.default));
  return out;
}

export function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts.at(-1)!] = value;
}

export function getPath(obj: Record<string, unknown>, key: string): unknown {
  return key.split('.').reduce<unknown>((o, p) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[p] : undefined), obj);
}

/** Parses one field's raw text into its value; throws an Error naming the field and the rule. */
export function parseField(f: SettingField, raw: string | boolean | string[]): unknown {
  if (f.kind === 'bool') return Boolean(raw);
  if (f.kind === 'targets') {
    if (!Array.isArray(raw) || raw.length === 0) throw new Error(`${f.label}: pick at least one target`);
    return raw;
  }
  if (f.kind === 'text' || f.kind === 'select') return String(raw).trim();
  const text = String(raw).trim();
  const n = Number(text);
  if (text === '' || !Number.isFinite(n)) throw new Error(`${f.label}: enter a number`);
  if (f.kind === 'int' && !Number.isInteger(n)) throw new Error(`${f.label}: enter a whole number`);
  if (f.min !== undefined && (f.exclusiveMin ? n <= f.min : n < f.min)) throw new Error(`${f.label}: must be ${f.exclusiveMin ? 'above' : 'at least'} ${f.min}`);
  if (f.max !== undefined && (f.exclusiveMax ? n >= f.max : n > f.max)) throw new Error(`${f.label}: must be ${f.exclusiveMax ? 'below' : 'at most'} ${f.max}`);
  return n;
}
