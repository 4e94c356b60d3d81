// The E2E NLG files this repository reads, where each comes from, and its checksum. The layout
// (lora-format/, official-csv/, splitlora-jsonl/, metrics-example/) is the one every test and
// script expects under an E2E data directory. The data is CC BY-SA 4.0: it is downloaded into a
// cache (npm run data:e2e), never committed.
//
// Every upstream file is pinned to a commit. Its SHA-256 was computed from a byte-for-byte copy
// whose git blob id equals the blob at that commit (git ls-tree), so the hash is upstream's.
// The two derived files are rebuilt from lora-format/test.txt and must hash the same.
// The train split is opt-in (--train); its size was not seen here, so it is checked against the
// git blob id at the pinned commit (SHA-1 of "blob <size>\0" + bytes), which is what git pins.

export interface E2ESource {
  /** GitHub owner/name. */
  repo: string;
  commit: string;
  /** Path inside the repository. */
  path: string;
}

export interface E2EFile {
  /** Path inside an E2E data directory. */
  path: string;
  /** Where it is downloaded from; absent for a file derived from others. */
  source?: E2ESource;
  size?: number;
  sha256?: string;
  /** git blob id at source.commit, where no SHA-256 is known. */
  gitBlob?: string;
}

const LORA: Omit<E2ESource, 'path'> = { repo: 'microsoft/LoRA', commit: 'c4593f060e6a368d7bb5af5273b8e42810cdef90' };
const E2E_DATASET: Omit<E2ESource, 'path'> = { repo: 'tuetschek/e2e-dataset', commit: 'ab0d967dd5729ce455ef14ba9ffafc456a335264' };
const SPLIT_LORA: Omit<E2ESource, 'path'> = { repo: 'FDU-INC/Split_LoRA', commit: 'a549b60f4638ea9a12eccf4bc91dae3eedff25e5' };
const E2E_METRICS: Omit<E2ESource, 'path'> = { repo: 'tuetschek/e2e-metrics', commit: '1b9c4d87fd0bbb171ea966741cdc012588581ed4' };

/** The dev and test splits, SplitLoRA's token ids and the metrics example: what the tests read. */
export const E2E_FILES: readonly E2EFile[] = [
  { path: 'lora-format/valid.txt', source: { ...LORA, path: 'examples/NLG/data/e2e/valid.txt' }, size: 1198093, sha256: 'ba963113c8401d3d26216c0dc0a6dae1ea6ea927de3bf830e32c41f65401c80d' },
  { path: 'lora-format/test.txt', source: { ...LORA, path: 'examples/NLG/data/e2e/test.txt' }, size: 1351149, sha256: '81b1bcd40c4f12845ec4eb61a77bf43765d112483cd9b2f91ef10bfc1b3d8f13' },
  { path: 'lora-format/test_refs_grouped.txt', size: 657663, sha256: 'cda3fdb4ce7f50ed7926e9e5c98e311b83b221f5b6cdb93ef97cc3c664334cc4' },
  { path: 'lora-format/test_mrs_unique.txt', size: 91823, sha256: 'f2ff271068802f0d39d0b05ed682683e052b53ff659ffb14925242a52eb7aad4' },
  { path: 'official-csv/devset.csv', source: { ...E2E_DATASET, path: 'devset.csv' }, size: 1161305, sha256: 'fc26b78cdb849c80545f513b223d1e051138b43882eeb79e3eb153e689c864f9' },
  { path: 'official-csv/testset.csv', source: { ...E2E_DATASET, path: 'testset.csv' }, size: 88415, sha256: '9b90c8f88feae14d9e1ef37350b14d17294c5958e90a3f1a7846590ee97bdbb9' },
  { path: 'official-csv/testset_w_refs.csv', source: { ...E2E_DATASET, path: 'testset_w_refs.csv' }, size: 1310822, sha256: 'edc8db685e39bb9824d5bd70c18b1c9b0412d14b527aa960e2d1c8251ee15ccd' },
  { path: 'splitlora-jsonl/valid.jsonl', source: { ...SPLIT_LORA, path: 'SplitLoRA/examples/data/e2e/valid.jsonl' }, size: 1730016, sha256: '05b3cbed305f639030c0cba1d437f4fe200c8f55d1f8e15b4c47eac54eb73005' },
  { path: 'splitlora-jsonl/test.jsonl', source: { ...SPLIT_LORA, path: 'SplitLoRA/examples/data/e2e/test.jsonl' }, size: 1960142, sha256: '32b4c41133c61d714642e128498a153b1864390f3b353981a95b62b442fbe07d' },
  { path: 'splitlora-jsonl/valid_formatted.jsonl', source: { ...SPLIT_LORA, path: 'SplitLoRA/examples/data/e2e/valid_formatted.jsonl' }, size: 1346919, sha256: 'b8aea8e7c862d1c3db3279bb494131d838e0fb1223597ed070f3cf9dde50ed69' },
  { path: 'splitlora-jsonl/test_formatted.jsonl', source: { ...SPLIT_LORA, path: 'SplitLoRA/examples/data/e2e/test_formatted.jsonl' }, size: 1510427, sha256: '9f774414e4dc88271fa2982ec21c8c1e2344c6c54d474e0e3ef8c8d677a49c9c' },
  { path: 'metrics-example/devel-conc.txt', source: { ...E2E_METRICS, path: 'example-inputs/devel-conc.txt' }, size: 11179, sha256: 'bd1b8dc58ad36d1c9b8c576802436a63571c43f34603a86ab55fbb193bb94620' },
  { path: 'metrics-example/baseline-output.txt', source: { ...E2E_METRICS, path: 'example-inputs/baseline-output.txt' }, size: 829, sha256: '40509421149c20af64ebd3d797ccd6b4b5e00f117f0e0b7acc4634e8e950c722' },
];

/** The train split (42,061 pairs), in both spellings. Only with --train. */
export const E2E_TRAIN_FILES: readonly E2EFile[] = [
  { path: 'lora-format/train.txt', source: { ...LORA, path: 'examples/NLG/data/e2e/train.txt' }, gitBlob: '2f92a2790c00a48574dcc89465a326f33d7e7cc6' },
  { path: 'official-csv/trainset.csv', source: { ...E2E_DATASET, path: 'trainset.csv' }, gitBlob: 'fa3a5e1124d2aa0d768881e38f8ee73e63d5880d' },
];

export const GITHUB_RAW = 'https://raw.githubusercontent.com';

/** The download URL of a file with a source. */
export function e2eUrl(file: E2EFile, base = GITHUB_RAW): string {
  if (!file.source) throw new Error(`${file.path} is derived, not downloaded`);
  const { repo, commit, path } = file.source;
  return `${base.replace(/\/+$/, '')}/${repo}/${commit}/${path}`;
}
