import { describe, expect, it } from 'vitest';
// The server's own schema (Node side only; the page never imports it): the form must match it.
import { RunSettingsSchema, parseSettings } from '../../../server/src/settings';
import { SETTING_FIELDS, defaultSettings, parseField } from './settings-fields';

describe('dashboard settings fields', () => {
  it('cover every setting of the server schema, and nothing else', () => {
    const server = Object.entries(RunSettingsSchema.properties).flatMap(([k, v]) =>
      k === 'lora' ? Object.keys((v as { properties: object }).properties).map((s) => `lora.${s}`) : [k]);
    expect(SETTING_FIELDS.map((f) => f.key).sort()).toEqual(server.sort());
  });

  it('default to what the server fills in for an empty request', () => {
    expect(defaultSettings()).toEqual(parseSettings({}));
  });

  it('offer exactly the LoRA targets and wire formats the server accepts', () => {
    const opts = (key: string) => SETTING_FIELDS.find((f) => f.key === key)!.options!;
    for (const t of opts('lora.targets')) expect(() => parseSettings({ lora: { targets: [t] } })).not.toThrow();
    expect(() => parseSettings({ lora: { targets: ['wte'] } })).toThrow();
    for (const w of opts('wire')) expect(parseSettings({ wire: w }).wire).toBe(w);
    for (const a of opts('aggregation')) expect(parseSettings({ aggregation: a }).aggregation).toBe(a);
    for (const r of opts('serverReplicas')) expect(parseSettings({ serverReplicas: r }).serverReplicas).toBe(r);
    expect(() => parseSettings({ serverReplicas: 'single', labels: 'client' })).toThrow(/serverReplicas: "single" does not serve the U-shaped split/);
  });

  it('parse and bound values, naming the field in each error', () => {
    const field = (key: string) => SETTING_FIELDS.find((f) => f.key === key)!;
    expect(parseField(field('lora.r'), ' 8 ')).toBe(8);
    expect(() => parseField(field('lora.r'), '2.5')).toThrow('LoRA rank r: enter a whole number');
    expect(() => parseField(field('lora.r'), '0')).toThrow('LoRA rank r: must be at least 1');
    expect(() => parseField(field('clientLr'), '0')).toThrow('Volunteer learning rate: must be above 0');
    expect(() => parseField(field('lora.dropout'), '1')).toThrow('LoRA dropout: must be below 1');
    expect(() => parseField(field('batch'), '')).toThrow('Batch size: enter a number');
    expect(() => parseField(field('lora.targets'), [])).toThrow('LoRA targets: pick at least one target');
    expect(parseField(field('batching'), false)).toBe(false);
    expect(parseField(field('actNoise'), '0.5')).toBe(0.5);
    expect(() => parseField(field('actClip'), '0')).toThrow('Clip activation rows to norm: must be above 0');
  });
});
