// SPDX-License-Identifier: LGPL-2.1-only
// This one file is data from METEOR 1.5 and keeps its license; the rest of the project is MIT.
// METEOR 1.5's English function-word list (resources/function/english.words of cmu-mtlab/meteor,
// LGPL-2.1): the most frequent tokens of its training text. Matches on these words count
// (1 − δ) instead of δ. It is a parameter of the metric, so it is reproduced as is.
export const FUNCTION_WORDS: ReadonlySet<string> = new Set([
  'the', ',', '.', 'to', 'of', 'and', 'a', 'in', 'that', 'for', '"', 'is', 'on', "'s", 'it', 'with', 'was', 'as',
  'said', 'at', 'he', 'by', 'be', 'from', 'have', 'has', 'are', 'his', 'but', 'an', 'this', 'not', 'i', 'will',
  '\u2019', 'they', ')', '-rrb-', '(', '-lrb-', 'who', 'their', 'had', 'we', 'which', 'were', 'been', 'more', 'or',
  's', 'its', 'would', 'about', 'new', 'one', 'after', 'you', ':', 'also', 'up', 'when', 'there', 'than', '$', 'all',
  'out', 'her', 'people', 'she', 'year', 'two', '-', 'can', 'if', 'last', 'first', '\u201C', 'over', 'other',
  '\u201D', 'into', 'some', 'what', 'so', '--', 'no', 'time', 'years', 'could', '?', "'t", '\u2014', "'",
]);
