// Hugging Face PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors) for GPT-2.
// PEFT stores lora_A.weight [r', d_in] = Aᵀ and lora_B.weight [d_out, r'] = Bᵀ and scales by
// lora_alpha / r'. Our q/k/v slices of one block become ONE fused c_attn adapter:
//   A_peft = [A_q | A_v]ᵀ  (r' = r · slices),  B_peft [3d, r'] block-structured, zeros elsewhere,
//   lora_alpha = alpha · r' / r  so PEFT's scaling equals ours and outputs are identical.
// Our own layout rides along in the safetensors metadata ("splitlora") so q/v come back as slices.
import { parseSafetensors, writeSafetensors, type Dtype, type HostTensor, type TensorRecord } from '@splitlora/tensor';
import { CheckpointError, fmtShape, listNames } from './errors';
import {
  LORA_TARGETS, isLoraTarget, loraDims, loraKey, parseLoraKey, qkvOffset,
  type LoraConfig, type LoraTarget,
} from './lora-types';

type PeftModule = 'attn.c_attn' | 'attn.c_proj' | 'mlp.c_fc' | 'mlp.c_proj';
const PEFT_MODULES: readonly PeftModule[] = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];
type QkvTarget = 'c_attn' | 'q' | 'k' | 'v';
/** Order of slices inside a fused c_attn adapter's rank dimension. */
const FUSED_ORDER: readonly QkvTarget[] = ['c_attn', 'q', 'k', 'v'];

const moduleOf = (t: LoraTarget): PeftModule => (isQkv(t) ? 'attn.c_attn' : t);
const isQkv = (t: string): t is QkvTarget => (FUSED_ORDER as readonly string[]).includes(t);
const peftKey = (block: number, m: PeftModule, which: 'A' | 'B') => `base_model.model.transformer.h.${block}.${m}.lora_${which}.weight`;

export interface PeftFiles {
  configJson: Record<string, unknown>;
  safetensors: Uint8Array;
}

export interface PeftExportOptions {
  /** adapter_config.json base_model_name_or_path; default "gpt2". */
  baseModel?: string;
  /** Default F32, which round-trips bit-exactly. */
  dtype?: Dtype;
}

interface Slice { target: LoraTarget; A: HostTensor; B: HostTensor }
interface Module { block: number; module: PeftModule; slices: Slice[] }

export function validateLoraConfig(cfg: LoraConfig): void {
  if (!Number.isInteger(cfg.r) || cfg.r <= 0) throw new CheckpointError('BAD_ADAPTER', `LoRA r must be a positive integer, got ${cfg.r}`);
  if (!(cfg.alpha > 0) || !Number.isFinite(cfg.alpha)) throw new CheckpointError('BAD_ADAPTER', `LoRA alpha must be > 0, got ${cfg.alpha}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new CheckpointError('BAD_ADAPTER', `LoRA dropout must be in [0, 1), got ${cfg.dropout}`);
  const bad = cfg.targets.filter((t) => !isLoraTarget(t));
  if (cfg.targets.length === 0 || bad.length > 0 || new Set(cfg.targets).size !== cfg.targets.length) {
    throw new CheckpointError('BAD_ADAPTER', `LoRA targets must be distinct names from ${LORA_TARGETS.join(', ')}; got [${cfg.targets.join(', ')}]`);
  }
}

export function adapterToPeft(lora: TensorRecord, cfg: LoraConfig, opts: PeftExportOptions = {}): PeftFiles {
  validateLoraConfig(cfg);
  const modules = groupModules(lora, cfg);
  const tensors: TensorRecord = {};
  const ranks: { block: number; module: PeftModule; rank: number }[] = [];
  for (const m of modules) {
    const { A, B } = m.module === 'attn.c_attn' ? fuseQkv(m) : { A: transpose(m.slices[0].A), B: transpose(m.slices[0].B) };
    tensors[peftKey(m.block, m.module, 'A')] = A; // [r', d_in]
    tensors[peftKey(m.block, m.module, 'B')] = B; // [d_out, r']
    ranks.push({ block: m.block, module: m.module, rank: A.shape[0] });
  }
  const { r, rankPattern, alphaPattern } = rankPatterns(ranks, cfg);
  const present = PEFT_MODULES.filter((pm) => modules.some((m) => m.module === pm));
  const configJson = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: opts.baseModel ?? 'gpt2',
    revision: null,
    r,
    lora_alpha: (cfg.alpha * r) / cfg.r,
    lora_dropout: cfg.dropout,
    // PEFT matches these as suffixes of module names; "attn.c_proj" does not catch mlp.c_proj.
    target_modules: present.map((pm) => (pm === 'attn.c_attn' ? 'c_attn' : pm)),
    fan_in_fan_out: true, // GPT-2's Conv1D stores weights [in, out]
    bias: 'none',
    inference_mode: true,
    modules_to_save: null,
    init_lora_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    use_rslora: false,
    use_dora: false,
  };
  const metadata = {
    format: 'pt',
    splitlora: JSON.stringify({ version: 1, r: cfg.r, alpha: cfg.alpha, dropout: cfg.dropout, targets: cfg.targets }),
  };
  return { configJson, safetensors: writeSafetensors(tensors, { dtype: opts.dtype ?? 'F32', metadata }) };
}

/** Pairs up A/B per (block, target), checks shapes, groups by the PEFT module they land in. */
function groupModules(lora: TensorRecord, cfg: LoraConfig): Module[] {
  const slices = new Map<string, { block: number; target: LoraTarget; A?: HostTensor; B?: HostTensor }>();
  for (const [key, t] of Object.entries(lora)) {
    const p = parseLoraKey(key);
    if (!p) throw new CheckpointError('BAD_ADAPTER', `unknown LoRA tensor name "${key}" (expected h.{i}.{target}.lora_A or .lora_B with target one of ${LORA_TARGETS.join(', ')})`);
    if (!cfg.targets.includes(p.target)) throw new CheckpointError('BAD_ADAPTER', `"${key}" is for target ${p.target}, which is not in the LoRA config's targets [${cfg.targets.join(', ')}]`);
    const id = `${p.block}|${p.target}`;
    const s = slices.get(id) ?? { block: p.block, target: p.target };
    s[p.which] = t;
    slices.set(id, s);
  }
  if (slices.size === 0) throw new CheckpointError('BAD_ADAPTER', 'no LoRA tensors to export');
  const modules = new Map<string, Module>();
  for (const s of slices.values()) {
    const name = (w: 'A' | 'B') => loraKey(s.block, s.target, w);
    if (!s.A || !s.B) throw new CheckpointError('MISSING_TENSOR', `LoRA tensor ${name(s.A ? 'B' : 'A')} is missing (its partner ${name(s.A ? 'A' : 'B')} exists)`);
    checkSliceShapes(s.target, s.A, s.B, name('A'), name('B'));
    if (isQkv(s.target) && s.target !== 'c_attn' && s.A.shape[1] !== cfg.r) {
      throw new CheckpointError('SHAPE_MISMATCH', `${name('A')} has rank ${s.A.shape[1]} but the LoRA config says r=${cfg.r}`);
    }
    const m = moduleOf(s.target);
    const id = `${s.block}|${m}`;
    const mod = modules.get(id) ?? { block: s.block, module: m, slices: [] };
    mod.slices.push({ target: s.target, A: s.A, B: s.B });
    modules.set(id, mod);
  }
  const list = [...modules.values()];
  for (const m of list) m.slices.sort((a, b) => FUSED_ORDER.indexOf(a.target as QkvTarget) - FUSED_ORDER.indexOf(b.target as QkvTarget));
  return list.sort((a, b) => a.block - b.block || PEFT_MODULES.indexOf(a.module) - PEFT_MODULES.indexOf(b.module));
}

function checkSliceShapes(target: LoraTarget, A: HostTensor, B: HostTensor, nameA: string, nameB: string): void {
  const ok2d = (t: HostTensor) => t.shape.length === 2 && t.data.length === t.shape[0] * t.shape[1];
  if (!ok2d(A) || !ok2d(B)) throw new CheckpointError('SHAPE_MISMATCH', `${nameA} ${fmtShape(A.shape)} and ${nameB} ${fmtShape(B.shape)} must both be 2-D and filled`);
  const d = target === 'mlp.c_proj' ? B.shape[1] : A.shape[0];
  const [dIn, dOut] = loraDims(target, d);
  if (A.shape[0] !== dIn || B.shape[1] !== dOut || A.shape[1] !== B.shape[0] || A.shape[1] === 0) {
    throw new CheckpointError('SHAPE_MISMATCH', `${nameA} ${fmtShape(A.shape)} / ${nameB} ${fmtShape(B.shape)} do not fit target ${target}: expected [${dIn}, r] and [r, ${dOut}]`);
  }
}

/** q/k/v (and c_attn) slices -> one PEFT adapter: A [r', d], B [3d, r']. */
function fuseQkv(m: Module): { A: HostTensor; B: HostTensor } {
  const first = m.slices[0];
  const d = first.A.shape[0];
  const rTotal = m.slices.reduce((s, x) => s + x.A.shape[1], 0);
  const A = new Float32Array(rTotal * d);
  const B = new Float32Array(3 * d * rTotal);
  let c = 0; // first rank column of the current slice
  for (const s of m.slices) {
    const r = s.A.shape[1];
    const width = s.B.shape[1]; // d for q/k/v, 3d for c_attn
    const off = qkvOffset(s.target as QkvTarget, d);
    for (let i = 0; i < d; i++) for (let k = 0; k < r; k++) A[(c + k) * d + i] = s.A.data[i * r + k];
    for (let k = 0; k < r; k++) for (let j = 0; j < width; j++) B[(off + j) * rTotal + c + k] = s.B.data[k * width + j];
    c += r;
  }
  return { A: { shape: [rTotal, d], data: A }, B: { shape: [3 * d, rTotal], data: B } };
}

/** The most common rank becomes r; other modules get rank_pattern/alpha_pattern entries. */
function rankPatterns(ranks: { block: number; module: PeftModule; rank: number }[], cfg: LoraConfig) {
  const counts = new Map<number, number>();
  for (const x of ranks) counts.set(x.rank, (counts.get(x.rank) ?? 0) + 1);
  const r = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  const set = (key: string, rank: number) => {
    rankPattern[key] = rank;
    alphaPattern[key] = (cfg.alpha * rank) / cfg.r; // keeps lora_alpha / r' = alpha / r
  };
  for (const pm of PEFT_MODULES) {
    const of = ranks.filter((x) => x.module === pm);
    const distinct = new Set(of.map((x) => x.rank));
    // One key per module type when all blocks agree (e.g. "attn.c_attn"), else per block.
    if (distinct.size === 1 && of[0].rank !== r) set(pm, of[0].rank);
    else if (distinct.size > 1) for (const x of of) if (x.rank !== r) set(`h.${x.block}.${pm}`, x.rank);
  }
  return { r, rankPattern, alphaPattern };
}

// ---------------------------------------------------------------------------------------------
// Loading

const PEFT_KEY = /^(?:base_model\.model\.)?(?:transformer\.)?h\.(\d+)\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.lora_(A|B)(?:\.([\w-]+))?\.weight$/;

interface PeftPair { block: number; module: PeftModule; A: HostTensor; B: HostTensor; scaling: number }

export function adapterFromPeft(configJson: unknown, safetensorsBytes: Uint8Array): { lora: TensorRecord; cfg: LoraConfig } {
  const conf = parseAdapterConfig(configJson);
  const { tensors, metadata } = parseSafetensors(safetensorsBytes, { what: 'adapter_model.safetensors' });
  const pairs = readPairs(tensors, conf);
  return metadata.splitlora !== undefined ? splitOwn(pairs, parseOwnMeta(metadata.splitlora)) : fromForeign(pairs, conf);
}

interface AdapterConf {
  r: number;
  loraAlpha: number;
  dropout: number;
  rslora: boolean;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
}

function parseAdapterConfig(configJson: unknown): AdapterConf {
  let json = configJson;
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch (e) {
      throw new CheckpointError('BAD_ADAPTER', `adapter_config.json is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  if (typeof json !== 'object' || json === null) throw new CheckpointError('BAD_ADAPTER', 'adapter_config.json must hold a JSON object');
  const c = json as Record<string, unknown>;
  if (c.peft_type !== undefined && c.peft_type !== 'LORA') throw new CheckpointError('BAD_ADAPTER', `adapter_config.json: peft_type is ${String(c.peft_type)}; only LORA adapters are supported`);
  if (c.use_dora === true) throw new CheckpointError('BAD_ADAPTER', 'adapter_config.json: DoRA adapters (use_dora: true) are not supported');
  const num = (k: string, fallback: number) => {
    const v = c[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new CheckpointError('BAD_ADAPTER', `adapter_config.json: "${k}" must be a number`);
    return v;
  };
  // PEFT's defaults: r 8, lora_alpha 8, dropout 0.
  return {
    r: num('r', 8),
    loraAlpha: num('lora_alpha', 8),
    dropout: num('lora_dropout', 0),
    rslora: c.use_rslora === true,
    rankPattern: (c.rank_pattern ?? {}) as Record<string, number>,
    alphaPattern: (c.alpha_pattern ?? {}) as Record<string, number>,
  };
}

/** PEFT's get_pattern_key: the first pattern p with re.match(rf"(.*\.)?({p})$", module name). */
function patternValue(pattern: Record<string, number>, moduleName: string): number | undefined {
  for (const [p, v] of Object.entries(pattern)) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:.*\\.)?(?:${p})$`);
    } catch {
      throw new CheckpointError('BAD_ADAPTER', `adapter_config.json: rank/alpha pattern "${p}" is not a valid regular expression`);
    }
    if (re.test(moduleName)) return v;
  }
  return undefined;
}

function readPairs(tensors: TensorRecord, conf: AdapterConf): PeftPair[] {
  const found = new Map<string, { block: number; module: PeftModule; A?: HostTensor; B?: HostTensor }>();
  const unknown: string[] = [];
  const names = new Set<string>();
  for (const [key, t] of Object.entries(tensors)) {
    const m = PEFT_KEY.exec(key);
    if (!m) {
      unknown.push(key);
      continue;
    }
    names.add(m[4] ?? 'default');
    const id = `${m[1]}|${m[2]}`;
    const p = found.get(id) ?? { block: Number(m[1]), module: m[2] as PeftModule };
    p[m[3] as 'A' | 'B'] = t;
    found.set(id, p);
  }
  if (unknown.length > 0) throw new CheckpointError('BAD_ADAPTER', `adapter_model.safetensors: tensors we cannot load as GPT-2 LoRA weights: ${listNames(unknown)} (only lora_A/lora_B on attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj are supported)`);
  if (names.size > 1) throw new CheckpointError('BAD_ADAPTER', `adapter_model.safetensors holds several adapters (${[...names].join(', ')}); save one adapter per directory`);
  if (found.size === 0) throw new CheckpointError('BAD_ADAPTER', 'adapter_model.safetensors holds no LoRA tensors');

  const pairs: PeftPair[] = [];
  for (const p of found.values()) {
    const where = `h.${p.block}.${p.module}`;
    if (!p.A || !p.B) throw new CheckpointError('MISSING_TENSOR', `adapter_model.safetensors: ${where} has lora_${p.A ? 'A' : 'B'} but no lora_${p.A ? 'B' : 'A'}`);
    const [rA, dIn] = p.A.shape;
    const [dOut, rB] = p.B.shape;
    const ratio: Record<PeftModule, [number, number]> = { 'attn.c_attn': [1, 3], 'attn.c_proj': [1, 1], 'mlp.c_fc': [1, 4], 'mlp.c_proj': [4, 1] };
    const [inMul, outMul] = ratio[p.module];
    if (p.A.shape.length !== 2 || p.B.shape.length !== 2 || rA !== rB || rA === 0 || dIn * outMul !== dOut * inMul) {
      throw new CheckpointError('SHAPE_MISMATCH', `adapter_model.safetensors: ${where}: lora_A ${fmtShape(p.A.shape)} / lora_B ${fmtShape(p.B.shape)} do not form a LoRA pair for GPT-2's ${p.module} (expected [r, d_in] and [d_out, r])`);
    }
    const moduleName = `transformer.${where}`;
    const alpha = patternValue(conf.alphaPattern, moduleName) ?? conf.loraAlpha;
    const scaling = conf.rslora ? alpha / Math.sqrt(rA) : alpha / rA;
    pairs.push({ block: p.block, module: p.module, A: p.A, B: p.B, scaling });
  }
  return pairs.sort((a, b) => a.block - b.block || PEFT_MODULES.indexOf(a.module) - PEFT_MODULES.indexOf(b.module));
}

function parseOwnMeta(text: string): LoraConfig {
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError('BAD_ADAPTER', `adapter_model.safetensors: "splitlora" metadata is not valid JSON`, { cause: e });
  }
  const cfg: LoraConfig = { r: meta.r as number, alpha: meta.alpha as number, dropout: (meta.dropout as number) ?? 0, targets: meta.targets as LoraTarget[] };
  if (!Array.isArray(cfg.targets)) throw new CheckpointError('BAD_ADAPTER', 'adapter_model.safetensors: "splitlora" metadata lacks targets');
  validateLoraConfig(cfg);
  return cfg;
}

/** Our own file: undo the q/k/v fusion using the layout stored in the metadata. */
function splitOwn(pairs: PeftPair[], cfg: LoraConfig): { lora: TensorRecord; cfg: LoraConfig } {
  const lora: TensorRecord = {};
  const scale = cfg.alpha / cfg.r;
  for (const p of pairs) {
    const where = `h.${p.block}.${p.module}`;
    if (Math.abs(p.scaling - scale) > 1e-9 * scale) {
      throw new CheckpointError('BAD_ADAPTER', `${where}: adapter_config.json gives scaling ${p.scaling} but the file's splitlora metadata says alpha/r = ${scale}; the two files do not belong together`);
    }
    const rTotal = p.A.shape[0];
    if (p.module !== 'attn.c_attn') {
      if (!cfg.targets.includes(p.module)) throw new CheckpointError('BAD_ADAPTER', `${where} has an adapter but the splitlora metadata's targets [${cfg.targets.join(', ')}] lack ${p.module}`);
      lora[loraKey(p.block, p.module, 'A')] = transpose(p.A);
      lora[loraKey(p.block, p.module, 'B')] = transpose(p.B);
      continue;
    }
    const slices = FUSED_ORDER.filter((t) => cfg.targets.includes(t));
    const qkv = slices.filter((t) => t !== 'c_attn').length;
    const rFused = rTotal - cfg.r * qkv; // rank left for a full c_attn slice, if targeted
    if (slices.length === 0 || (slices.includes('c_attn') ? rFused < 1 : rFused !== 0)) {
      throw new CheckpointError('BAD_ADAPTER', `${where}: rank ${rTotal} does not fit targets [${slices.join(', ')}] at r=${cfg.r}`);
    }
    const d = p.A.shape[1];
    let c = 0;
    for (const t of slices) {
      const r = t === 'c_attn' ? rFused : cfg.r;
      const width = t === 'c_attn' ? 3 * d : d;
      const off = qkvOffset(t, d);
      const A = new Float32Array(d * r); // [d, r]
      const B = new Float32Array(r * width); // [r, width]
      for (let i = 0; i < d; i++) for (let k = 0; k < r; k++) A[i * r + k] = p.A.data[(c + k) * d + i];
      for (let k = 0; k < r; k++) for (let j = 0; j < width; j++) B[k * width + j] = p.B.data[(off + j) * rTotal + c + k];
      lora[loraKey(p.block, t, 'A')] = { shape: [d, r], data: A };
      lora[loraKey(p.block, t, 'B')] = { shape: [r, width], data: B };
      c += r;
    }
  }
  return { lora, cfg };
}

/**
 * Someone else's adapter: each module maps to c_attn / attn.c_proj / mlp.c_fc / mlp.c_proj.
 * cfg.r is the config's r if some module has it (else the most common rank) and alpha/r is that
 * module's scaling. A module with another scaling (rank/alpha patterns, rsLoRA) has the ratio
 * folded into its B, so x @ A @ B · alpha/r still equals PEFT's output.
 */
function fromForeign(pairs: PeftPair[], conf: AdapterConf): { lora: TensorRecord; cfg: LoraConfig } {
  const ranks = pairs.map((p) => p.A.shape[0]);
  const r = ranks.includes(conf.r) ? conf.r : mode(ranks);
  const ref = pairs.find((p) => p.A.shape[0] === r)!.scaling;
  const lora: TensorRecord = {};
  const targets = new Set<LoraTarget>();
  for (const p of pairs) {
    const target: LoraTarget = p.module === 'attn.c_attn' ? 'c_attn' : p.module;
    targets.add(target);
    const B = transpose(p.B);
    if (p.scaling !== ref) for (let i = 0; i < B.data.length; i++) B.data[i] *= p.scaling / ref;
    lora[loraKey(p.block, target, 'A')] = transpose(p.A);
    lora[loraKey(p.block, target, 'B')] = B;
  }
  const cfg: LoraConfig = { r, alpha: ref * r, dropout: conf.dropout, targets: LORA_TARGETS.filter((t) => targets.has(t)) };
  return { lora, cfg };
}

function mode(xs: number[]): number {
  const counts = new Map<number, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
}

/** [R, C] -> [C, R]. */
function transpose(t: HostTensor): HostTensor {
  const [R, C] = t.shape;
  const out = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = t.data[r * C + c];
  return { shape: [C, R], data: out };
}
