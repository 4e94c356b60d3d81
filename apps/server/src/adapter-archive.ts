// The adapters of a run as one tar archive in Hugging Face PEFT layout:
//   client/adapter_config.json, client/adapter_model.safetensors   (the federated average: blocks [0, k))
//   server/adapter_config.json, server/adapter_model.safetensors   (the server's adapter: blocks [k, L))
//   run.json                                                       (run id, round, cut, base model)
// Block indices are the model's own (h.<i>), so each half loads into the full model with PEFT, or
// both together after merging the two safetensors files.
import { adapterToPeft, type LoraConfig, type TensorRecord } from '@splitlora/model';
import { writeTar, type TarEntry } from './tar';

export interface AdapterArchiveInput {
  runId: string;
  round: number;
  cut: number;
  baseModel: string;
  lora: LoraConfig;
  client: TensorRecord;
  server: TensorRecord;
}

export function adapterArchive(a: AdapterArchiveInput): Uint8Array {
  const enc = new TextEncoder();
  const entries: TarEntry[] = [];
  for (const [part, lora] of [['client', a.client], ['server', a.server]] as const) {
    const peft = adapterToPeft(lora, a.lora, { baseModel: a.baseModel });
    entries.push({ name: `${part}/adapter_config.json`, data: enc.encode(JSON.stringify(peft.configJson, null, 2) + '\n') });
    entries.push({ name: `${part}/adapter_model.safetensors`, data: peft.safetensors });
  }
  const info = { runId: a.runId, round: a.round, cut: a.cut, baseModel: a.baseModel, lora: a.lora };
  entries.push({ name: 'run.json', data: enc.encode(JSON.stringify(info, null, 2) + '\n') });
  return writeTar(entries);
}
