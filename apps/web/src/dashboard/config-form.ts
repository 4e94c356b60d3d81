// The "new run" form: one input per setting (settings-fields.ts), filled with the defaults or a
// past run's settings, and read back into the JSON that POST /api/runs takes.
import { h } from './dom';
import { SETTING_GROUPS, defaultSettings, getPath, parseField, setPath, type SettingField } from './settings-fields';

const idOf = (f: SettingField) => `set-${f.key.replace('.', '-')}`;

function input(f: SettingField): HTMLElement {
  const id = idOf(f);
  if (f.kind === 'select') return h('select', { id, name: f.key }, ...f.options!.map((o) => h('option', { value: o }, o)));
  if (f.kind === 'bool') return h('input', { id, name: f.key, type: 'checkbox' });
  if (f.kind === 'targets') {
    return h('div', { id, className: 'targets', role: 'group' }, ...f.options!.map((o) => h('label', {}, h('input', { type: 'checkbox', value: o, name: f.key }), ` ${o}`)));
  }
  const el = h('input', { id, name: f.key, type: f.kind === 'text' ? 'text' : 'number', step: f.kind === 'int' ? '1' : 'any' });
  if (f.kind !== 'text') el.inputMode = f.kind === 'int' ? 'numeric' : 'decimal';
  if (f.min !== undefined && !f.exclusiveMin) el.min = String(f.min);
  if (f.max !== undefined && !f.exclusiveMax) el.max = String(f.max);
  return el;
}

export class ConfigForm {
  constructor(private readonly form: HTMLFormElement, private readonly fieldsEl: HTMLElement) {
    for (const g of SETTING_GROUPS) {
      const set = h('fieldset', {}, h('legend', {}, g.title));
      for (const f of g.fields) {
        const label = h('label', { htmlFor: idOf(f), className: f.kind === 'bool' ? 'field check' : 'field' });
        const control = input(f);
        if (f.kind === 'bool') label.append(control, ` ${f.label}`);
        else if (f.kind === 'targets') label.append(h('span', {}, f.label));
        else label.append(h('span', {}, f.label), control);
        if (f.hint) label.append(h('small', {}, f.hint));
        set.append(label);
        if (f.kind === 'targets') set.append(control);
      }
      this.fieldsEl.append(set);
    }
    this.fill(defaultSettings());
  }

  /** Puts a settings object into the inputs (fields it lacks keep their defaults). */
  fill(settings: Record<string, unknown>): void {
    const defaults = defaultSettings();
    for (const f of SETTING_GROUPS.flatMap((g) => g.fields)) {
      const v = getPath(settings, f.key) ?? getPath(defaults, f.key);
      const el = this.form.querySelector<HTMLElement>(`#${idOf(f)}`)!;
      if (f.kind === 'targets') {
        const on = new Set(Array.isArray(v) ? (v as string[]) : []);
        el.querySelectorAll<HTMLInputElement>('input').forEach((c) => (c.checked = on.has(c.value)));
      } else if (f.kind === 'bool') (el as HTMLInputElement).checked = Boolean(v);
      else (el as HTMLInputElement).value = v === undefined || v === null ? '' : String(v);
    }
  }

  /** The settings JSON; throws an Error naming the first invalid field (and focuses it). */
  collect(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of SETTING_GROUPS.flatMap((g) => g.fields)) {
      const el = this.form.querySelector<HTMLInputElement>(`#${idOf(f)}`)!;
      const raw = f.kind === 'targets'
        ? [...el.querySelectorAll<HTMLInputElement>('input:checked')].map((c) => c.value)
        : f.kind === 'bool' ? el.checked : el.value;
      if (f.default === undefined && raw === '') continue; // optional and left empty
      try {
        setPath(out, f.key, parseField(f, raw));
      } catch (e) {
        (el.querySelector('input') ?? el).focus();
        throw e;
      }
    }
    return out;
  }
}
